import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { RawScu } from '../support/raw-scu.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const VERIFICATION = '1.2.840.10008.1.1';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const JPEG_LOSSLESS = '1.2.840.10008.1.2.4.70';
const HTJ2K = '1.2.840.10008.1.2.4.201';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const PRIVATE_CLASS = '1.3.6.1.4.1.9590.100.1.2.999';
const FIND = '1.2.840.10008.5.1.4.1.2.2.1';

describe('association negotiation', () => {
  let dir: string;
  let listener: ListenerProcess;
  let permissive: ListenerProcess;

  beforeAll(async () => {
    dir = await makeWorkDir('negotiation-');
    listener = await startListener({ STORAGE_URL: `file://${dir}/a`, DICOM_MAX_PDU_LENGTH: '65536' });
    permissive = await startListener({ STORAGE_URL: `file://${dir}/b`, DICOM_ACCEPT_UNKNOWN_SOP_CLASSES: 'true' });
  });

  afterAll(async () => {
    await listener?.stop();
    await permissive?.stop();
    await removeWorkDir(dir);
  });

  async function associate(target: ListenerProcess, contexts: { id: number; abstractSyntax: string; transferSyntaxes: string[] }[]) {
    const scu = await RawScu.connect(target.port);
    try {
      return await scu.associate({ called: 'DICOMS3', contexts });
    } finally {
      scu.destroy();
    }
  }

  test('a compressed syntax proposed beside uncompressed ones is kept, never traded for a transcode', async () => {
    // GIVEN a sender that holds JPEG Lossless and also offers Explicit VR Little Endian
    // WHEN it proposes both
    const result = await associate(listener, [{ id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE, JPEG_LOSSLESS] }]);
    // THEN the listener accepts JPEG Lossless
    expect(result.contexts.get(1)).toEqual({ result: 0, transferSyntax: JPEG_LOSSLESS });
  });

  test('HTJ2K alone is accepted', async () => {
    const result = await associate(listener, [{ id: 1, abstractSyntax: CT, transferSyntaxes: [HTJ2K] }]);
    expect(result.contexts.get(1)).toEqual({ result: 0, transferSyntax: HTJ2K });
  });

  test('among uncompressed syntaxes the sender\'s first choice is taken, so it need not convert', async () => {
    const result = await associate(listener, [{ id: 1, abstractSyntax: CT, transferSyntaxes: [BIG_ENDIAN, EXPLICIT_LE, IMPLICIT_LE] }]);
    expect(result.contexts.get(1)).toEqual({ result: 0, transferSyntax: BIG_ENDIAN });
  });

  test('between two compressed syntaxes the sender\'s order wins: lossy is never traded for lossless', async () => {
    const result = await associate(listener, [{ id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE, JPEG_BASELINE, JPEG_LOSSLESS] }]);
    expect(result.contexts.get(1)).toEqual({ result: 0, transferSyntax: JPEG_BASELINE });
  });

  test('every proposed context gets a result, refusals included', async () => {
    // GIVEN verification, a storage class, a Query/Retrieve class, a private class and an unknown syntax
    const result = await associate(listener, [
      { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
      { id: 3, abstractSyntax: CT, transferSyntaxes: [IMPLICIT_LE] },
      { id: 5, abstractSyntax: FIND, transferSyntaxes: [IMPLICIT_LE] },
      { id: 7, abstractSyntax: PRIVATE_CLASS, transferSyntaxes: [IMPLICIT_LE] },
      { id: 9, abstractSyntax: CT, transferSyntaxes: ['1.2.3.4.5.6.7'] },
    ]);
    // THEN each has an explicit accept or reject (3 = abstract syntax, 4 = transfer syntaxes not supported)
    expect([...result.contexts.entries()].map(([id, c]) => [id, c.result])).toEqual([[1, 0], [3, 0], [5, 3], [7, 3], [9, 4]]);
  });

  test('private SOP classes are accepted only when the option is on, and Query/Retrieve never', async () => {
    const result = await associate(permissive, [
      { id: 1, abstractSyntax: PRIVATE_CLASS, transferSyntaxes: [EXPLICIT_LE] },
      { id: 3, abstractSyntax: FIND, transferSyntaxes: [EXPLICIT_LE] },
    ]);
    expect(result.contexts.get(1)?.result).toBe(0);
    expect(result.contexts.get(3)?.result).toBe(3);
  });

  test('the accept advertises our own maximum PDU length, our implementation, and no asynchronous window', async () => {
    // GIVEN a sender that asks for async operations and proposes a small PDU of its own
    const scu = await RawScu.connect(listener.port);
    const result = await scu.associate({ contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] }], maxPduLength: 16384 });
    scu.destroy();
    // THEN the AC carries DICOM_MAX_PDU_LENGTH, not the sender's value
    expect(result.maxPduLength).toBe(65536);
    expect(result.implementationVersion).toBe('DICOMS3_010');
    expect(result.implementationClassUid).toMatch(/^2\.25\.\d+$/);
    expect(result.asyncOpsItem).toBe(false);
  });

  test('an association to an unknown called AE is rejected permanently with reason called-AE-not-recognized', async () => {
    const scu = await RawScu.connect(listener.port);
    const result = await scu.associate({ called: 'SOMEONEELSE', contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] }] });
    scu.destroy();
    expect(result.accepted).toBe(false);
    expect(result.reject).toEqual({ result: 1, source: 1, reason: 7 });
  });
});
