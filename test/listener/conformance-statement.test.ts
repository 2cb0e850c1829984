import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ConfigError, LISTENER_ENV, loadConfig } from '../../listener/config.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../listener/dicom/part10.ts';
import { isStandardStorageSopClass, VERIFICATION_SOP_CLASS } from '../../listener/dicom/sop-classes.ts';
import { chooseTransferSyntax, IMPLICIT_VR_LITTLE_ENDIAN, TRANSFER_SYNTAXES } from '../../listener/dicom/transfer-syntaxes.ts';
import * as errors from '../../listener/errors.ts';
import { outcomeFor, Status, statusHex } from '../../listener/status.ts';
import { BCP195_TLS12_CIPHERS } from '../../listener/transport/tls-credentials.ts';

/**
 * The Conformance Statement is what hospitals read before they route images here, so it must say
 * what the code does. These tests hold the statement to the code: change one without the other and
 * the build fails.
 */
const statement = readFileSync(new URL('../../docs/conformance-statement.md', import.meta.url), 'utf8');
const listenerSource = (file: string) => readFileSync(new URL(`../../listener/${file}`, import.meta.url), 'utf8');

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const UID = /^\d+(\.\d+)+$/;

/** Body rows of the table between `<!-- name -->` and `<!-- /name -->`: trimmed cells, backticks removed. */
function table(name: string): string[][] {
  const block = new RegExp(`<!-- ${name} -->([\\s\\S]*?)<!-- /${name} -->`).exec(statement)?.[1] ?? '';
  return block
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[-| ]+\|$/.test(line))
    .slice(1)
    .map((line) => line.slice(1, -1).split('|').map((cell) => cell.trim().replaceAll('`', '')));
}

/** Every `` `NAME`, default `value` `` the statement quotes, wherever it stands (line breaks included). */
function quotedDefaults(): { name: string; value: string }[] {
  return [...statement.matchAll(/`([A-Z][A-Z0-9_]+)`,\s+default\s+`([^`]+)`/g)].map((m) => ({ name: m[1]!, value: m[2]! }));
}

function defaultOf(name: string): string | undefined {
  return LISTENER_ENV.find((variable) => variable.name === name)?.default;
}

function transferSyntaxUid(nameOrUid: string): string {
  if (UID.test(nameOrUid)) return nameOrUid;
  const uid = TRANSFER_SYNTAXES.find((ts) => ts.name === nameOrUid)?.uid;
  if (!uid) throw new Error(`the statement names a transfer syntax the code does not know: "${nameOrUid}"`);
  return uid;
}

/** "compressed" when chooseTransferSyntax prefers it to an uncompressed syntax proposed before it. */
function selectionClass(uid: string): 'compressed' | 'uncompressed' {
  const uncompressed = uid === EXPLICIT_VR_LITTLE_ENDIAN ? IMPLICIT_VR_LITTLE_ENDIAN : EXPLICIT_VR_LITTLE_ENDIAN;
  return chooseTransferSyntax([uncompressed, uid]) === uid ? 'compressed' : 'uncompressed';
}

const byUid = (a: { uid: string }, b: { uid: string }) => a.uid.localeCompare(b.uid);

describe('Conformance Statement: transfer syntaxes', () => {
  test('the transfer syntax table lists exactly TRANSFER_SYNTAXES, each with its UID and name', () => {
    // GIVEN the syntaxes the listener accepts
    const accepted = TRANSFER_SYNTAXES.map(({ uid, name }) => ({ uid, name })).sort(byUid);
    // WHEN the statement's table is read
    const documented = table('transfer-syntaxes').map(([name, uid]) => ({ uid: uid!, name: name! })).sort(byUid);
    // THEN they are the same set, name for name
    expect(documented).toEqual(accepted);
  });

  test('no 1.2.840.10008.1.2 transfer syntax UID appears anywhere unless the listener accepts it', () => {
    // GIVEN every transfer syntax UID the statement mentions, in tables or prose
    const mentioned = new Set(statement.match(/(?<![\d.])1\.2\.840\.10008\.1\.2(?:\.\d+)*(?!\d)/g));
    // THEN it is exactly the accepted set: each one named, and none promised that is refused
    expect([...mentioned].sort()).toEqual(TRANSFER_SYNTAXES.map((ts) => ts.uid).sort());
  });

  test('each syntax is classed compressed or uncompressed as chooseTransferSyntax treats it', () => {
    // GIVEN the class the statement gives each syntax for the selection policy
    const documented = table('transfer-syntaxes').map(([, uid, kind]) => ({ uid: uid!, kind }));
    // WHEN the listener's own choice decides the class
    const actual = documented.map(({ uid }) => ({ uid, kind: selectionClass(uid) }));
    // THEN they agree
    expect(documented).toEqual(actual);
  });

  test('the selection examples are what chooseTransferSyntax picks', () => {
    // GIVEN the documented proposals and the syntax the statement says is accepted
    const examples = table('selection-examples').map(([proposed, accepted]) => ({
      proposed: proposed!.split('; ').map(transferSyntaxUid),
      accepted: accepted!.startsWith('none') ? undefined : transferSyntaxUid(accepted!),
    }));
    // WHEN the listener chooses for the same proposals
    const chosen = examples.map(({ proposed }) => ({ proposed, accepted: chooseTransferSyntax(proposed) }));
    // THEN every example holds
    expect(examples.length).toBeGreaterThan(0);
    expect(examples).toEqual(chosen);
  });
});

describe('Conformance Statement: SOP classes and identity', () => {
  test('Verification is listed with its UID', () => {
    expect(statement).toContain(`| Verification | ${VERIFICATION_SOP_CLASS} | No | Yes |`);
  });

  test('the storage classes outside the storage root are exactly those the code accepts', () => {
    // GIVEN the storage root and the classes sop-classes.ts registers outside it
    const source = listenerSource('dicom/sop-classes.ts');
    const root = /const STORAGE_ROOT = '([^']+)'/.exec(source)?.[1];
    const others = /OTHER_STORAGE_SOP_CLASSES = new Set\(\[([\s\S]*?)\]\)/.exec(source)?.[1] ?? '';
    const registered = [...others.matchAll(/'([\d.]+)'/g)].map((m) => m[1]!).sort();
    // WHEN the statement's SOP class table is read
    const uids = table('sop-classes').map(([, uid]) => uid!);
    const listed = uids.filter((uid) => UID.test(uid));
    // THEN it names the root, lists the same classes, and the listener accepts every one of them
    expect(uids).toContain(`${root}*`);
    expect([...listed].sort()).toEqual(registered);
    expect(listed.filter((uid) => !isStandardStorageSopClass(uid))).toEqual([]);
  });

  test('the Implementation Class UID and Version Name are those part10.ts writes and negotiates', () => {
    expect(statement).toContain(`| Implementation Class UID | ${IMPLEMENTATION_CLASS_UID} |`);
    expect(statement).toContain(`| Implementation Version Name | ${IMPLEMENTATION_VERSION_NAME} |`);
  });
});

describe('Conformance Statement: C-STORE statuses', () => {
  test.each(Object.entries(Status))('%s is quoted in hex', (_name, code) => {
    expect(statement).toContain(statusHex(code));
  });

  test('the status table uses exactly the codes in Status', () => {
    const documented = new Set(table('status-table').map(([, code]) => code));
    expect(documented).toEqual(new Set(Object.values(Status).map(statusHex)));
  });

  test('the status table mirrors the table in status.ts, cause for cause and in order', () => {
    // GIVEN the one table from failure to status, in status.ts's documentation
    const mirrored = [...listenerSource('status.ts').matchAll(/^\s*\*\s*\|\s*(.+?)\s*\|\s*(0x[0-9A-F]{4})\s*\|\s*$/gm)]
      .map((m) => ({ cause: m[1]!, status: m[2]! }));
    // WHEN the statement's table is read
    const documented = table('status-table').map(([, status, cause]) => ({ cause: cause!, status: status! }));
    // THEN they are the same rows
    expect(mirrored.length).toBeGreaterThan(0);
    expect(documented).toEqual(mirrored);
  });

  test('each failure is documented with the status and Error Comment outcomeFor gives it', () => {
    // GIVEN every failure class a component may throw, and an unexpected error
    const failures: Error[] = [...Object.values(errors).map((Failure) => new Failure('x')), new Error('unexpected')];
    const expected = failures.map((error) => outcomeFor(error)).map(({ status, comment }) => [statusHex(status), comment]);
    // WHEN the statement's status and comment columns are read
    const documented = table('status-table').map(([, status, , comment]) => [status, comment]);
    // THEN each outcome appears as documented
    expect(documented).toEqual(expect.arrayContaining(expected));
  });
});

describe('Conformance Statement: security', () => {
  test('the TLS 1.2 cipher list is quoted exactly as configured', () => {
    expect(statement).toContain(BCP195_TLS12_CIPHERS);
  });

  test('no TLS 1.2 suite is named that the listener does not offer', () => {
    const named = new Set(statement.match(/\bECDHE-[A-Z0-9-]+/g));
    expect(named).toEqual(new Set(BCP195_TLS12_CIPHERS.split(':')));
  });
});

describe('Conformance Statement: configuration', () => {
  test('the configuration table lists every variable the listener reads, with its default', () => {
    const documented = table('configuration-table').map(([name, value]) => ({ name: name!, default: value! }));
    expect(documented).toEqual(LISTENER_ENV.map(({ name, default: value }) => ({ name, default: value })));
  });

  test.each([
    'DICOM_PORT',
    'DICOM_MAX_PDU_LENGTH',
    'DICOM_MAX_ASSOCIATIONS',
    'DICOM_ARTIM_TIMEOUT_SECONDS',
    'DICOM_IDLE_TIMEOUT_SECONDS',
    'DICOM_STALL_TIMEOUT_SECONDS',
    'DRAIN_TIMEOUT_SECONDS',
  ])('the defaults quoted for %s in the text are the listener\'s', (name) => {
    // GIVEN every place the statement's text quotes a default for this variable
    const quoted = quotedDefaults().filter((quote) => quote.name === name).map((quote) => quote.value);
    // THEN it is quoted at least once, and always as LISTENER_ENV has it
    expect(quoted).not.toEqual([]);
    expect(new Set(quoted)).toEqual(new Set([defaultOf(name)]));
  });

  test('no default quoted anywhere in the text differs from LISTENER_ENV', () => {
    const wrong = quotedDefaults().filter(({ name, value }) => defaultOf(name) !== value);
    expect(wrong).toEqual([]);
  });

  const ranged = table('configuration-table')
    .map(([name, , range]) => ({ name: name!, bounds: /^(\d+)–(\d+)$/.exec(range ?? '') }))
    .filter((row): row is { name: string; bounds: RegExpExecArray } => row.bounds !== null)
    .map(({ name, bounds }) => ({ name, min: Number(bounds[1]), max: Number(bounds[2]) }));

  test('the table gives numeric ranges', () => {
    expect(ranged.map((row) => row.name)).toContain('DICOM_MAX_PDU_LENGTH');
  });

  test.each(ranged)('$name accepts $min–$max and nothing outside it', ({ name, min, max }) => {
    // GIVEN the documented range, WHEN the listener validates each bound and one step beyond
    const load = (value: number) => () => loadConfig({ [name]: String(value) });
    // THEN the bounds load and the values just outside are refused
    expect(load(min)).not.toThrow();
    expect(load(max)).not.toThrow();
    expect(load(min - 1)).toThrow(ConfigError);
    expect(load(max + 1)).toThrow(ConfigError);
  });
});
