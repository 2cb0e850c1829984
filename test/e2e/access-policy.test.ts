import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCorpus, type Corpus } from '../support/corpus.ts';
import { echoscu, storescu } from '../support/dcmtk.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { RawScu } from '../support/raw-scu.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

const rejection = (output: string) => /Reason: (.*)/.exec(output)?.[1]?.trim();

describe('AE policy and routing from a policy file', () => {
  let work: string;
  let corpus: Corpus;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('policy-');
    corpus = await buildCorpus({ dir: join(work, 'corpus'), smallCount: 2 });
    await writeFile(join(work, 'policy.yaml'), [
      'aeTitles:',
      '  - aeTitle: RADIOLOGY',
      '    allowedCallingAeTitles: [PACS1, PACS2]',
      `    storageUrl: file://${work}/radiology`,
      '    keyTemplate: "{prefix}/{SOPInstanceUID}.dcm"',
      '  - aeTitle: CARDIOLOGY',
      `    storageUrl: file://${work}/cardiology`,
      '  - aeTitle: REMOTESITE',
      '    allowedCallingAeTitles:',
      '      - aeTitle: SITEPACS',
      '        sourceCidrs: [10.20.0.0/16]',
      '  - aeTitle: BRANCH',
      '    allowedSourceCidrs: [192.168.50.0/24]',
      'maxAssociationsPerCallingAe: 1',
      '',
    ].join('\n'));
    listener = await startListener({ STORAGE_URL: `file://${work}/default`, DICOM_POLICY_FILE: join(work, 'policy.yaml') });
  });

  afterAll(async () => {
    await listener?.stop();
    await removeWorkDir(work);
  });

  test('an unknown called AE is rejected permanently: called AE title not recognized', async () => {
    const echo = await echoscu('127.0.0.1', listener.port, { aec: 'NOSUCHAE', aet: 'PACS1' });
    expect(echo.ok).toBe(false);
    expect(rejection(echo.stdout + echo.stderr)).toBe('Called AE Title Not Recognized');
  });

  test('a calling AE outside the allow-list is rejected: calling AE title not recognized', async () => {
    const echo = await echoscu('127.0.0.1', listener.port, { aec: 'RADIOLOGY', aet: 'INTRUDER' });
    expect(rejection(echo.stdout + echo.stderr)).toBe('Calling AE Title Not Recognized');
  });

  test('an allowed calling AE from outside its bound network is rejected', async () => {
    const echo = await echoscu('127.0.0.1', listener.port, { aec: 'REMOTESITE', aet: 'SITEPACS' });
    expect(rejection(echo.stdout + echo.stderr)).toBe('Calling AE Title Not Recognized');
  });

  test('a peer outside the AE\'s source networks is rejected without a reason', async () => {
    const echo = await echoscu('127.0.0.1', listener.port, { aec: 'BRANCH', aet: 'ANYONE' });
    expect(rejection(echo.stdout + echo.stderr)).toBe('No Reason');
  });

  test('each called AE routes to its own store and key template', async () => {
    const [first, second] = corpus.small;
    expect((await storescu('127.0.0.1', listener.port, [first!.path], { aec: 'RADIOLOGY', aet: 'PACS1' })).files[0]?.status).toBe(0);
    expect((await storescu('127.0.0.1', listener.port, [second!.path], { aec: 'CARDIOLOGY', aet: 'ANYONE' })).files[0]?.status).toBe(0);
    expect(await readdir(join(work, 'radiology'))).toEqual([`${first!.sopInstanceUid}.dcm`]);
    expect(await readdir(join(work, 'cardiology', second!.studyInstanceUid, second!.seriesInstanceUid))).toEqual([`${second!.sopInstanceUid}.dcm`]);
  });

  test('a calling AE over its association limit gets a transient reject while others are served', async () => {
    // GIVEN PACS1 holds its one allowed association open
    const held = await RawScu.connect(listener.port);
    const first = await held.associate({ calling: 'PACS1', called: 'RADIOLOGY', contexts: [{ id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] }] });
    expect(first.accepted).toBe(true);
    try {
      // WHEN PACS1 asks for a second one
      const second = await echoscu('127.0.0.1', listener.port, { aec: 'RADIOLOGY', aet: 'PACS1' });
      // THEN it is told to come back later (transient, local limit exceeded), and PACS2 is unaffected
      expect(second.stdout + second.stderr).toMatch(/Rejected Transient/);
      expect(rejection(second.stdout + second.stderr)).toBe('Local Limit Exceeded');
      expect((await echoscu('127.0.0.1', listener.port, { aec: 'RADIOLOGY', aet: 'PACS2' })).ok).toBe(true);
    } finally {
      await held.release();
    }
    // AND once released, PACS1 may associate again
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await echoscu('127.0.0.1', listener.port, { aec: 'RADIOLOGY', aet: 'PACS1' })).ok).toBe(true);
  });
});

describe('configuration errors stop the listener at start with one clear line', () => {
  test.each([
    [{ DICOM_PORT: 'eleven' }, /configuration error: DICOM_PORT: must be a TCP port/],
    [{ DICOM_AE_TITLE: 'A-TITLE-THAT-IS-FAR-TOO-LONG' }, /configuration error: DICOM_AE_TITLE: AE title .* must be 1–16 characters/],
    [{ STORAGE_URL: 'ftp://x' }, /configuration error: STORAGE_URL: must start with s3:\/\/ or file:\/\//],
    [{ STORAGE_KEY_TEMPLATE: '{prefix}/{StudyInstanceUID}.dcm' }, /configuration error: STORAGE_KEY_TEMPLATE: must contain \{SOPInstanceUID\}/],
    [{ DICOM_TLS_PORT: '2762' }, /configuration error: DICOM_TLS_CERT_FILE: is required when DICOM_TLS_PORT is set/],
    [{ DICOM_ALLOWED_SOURCE_CIDRS: '10.0.0.0/33' }, /configuration error: DICOM_ALLOWED_SOURCE_CIDRS: "10.0.0.0\/33" is not an IPv4 or IPv6 CIDR/],
  ])('%j', async (env, message) => {
    const started = startListener({ STORAGE_URL: 'file:///tmp/never-used', ...env }, { readyTimeoutMs: 10_000 });
    await expect(started).rejects.toThrow(message);
  });

  test('a policy file with an unknown field names the file variable and the field', async () => {
    const work = await makeWorkDir('bad-policy-');
    await writeFile(join(work, 'policy.yaml'), 'aeTitles:\n  - aeTitle: ONE\n    storageURL: s3://bucket/x\n');
    await expect(startListener({ DICOM_POLICY_FILE: join(work, 'policy.yaml') }, { readyTimeoutMs: 10_000 }))
      .rejects.toThrow(/DICOM_POLICY_FILE: aeTitles\[0\]\.storageURL: is not a known field/);
    await removeWorkDir(work);
  });
});
