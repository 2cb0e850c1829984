import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildInstance, dataSetOffset, type InstanceOptions } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { RawScu } from '../support/raw-scu.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

const SC = '1.2.840.10008.5.1.4.1.1.7';
const CT = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

function instance(options: InstanceOptions = {}) {
  const { bytes, info } = buildInstance(options);
  return { dataSet: bytes.subarray(dataSetOffset(bytes)), info };
}

describe('bad input gets the documented DIMSE status, and the association carries on', () => {
  let work: string;
  let listener: ListenerProcess;
  let scu: RawScu;

  beforeAll(async () => {
    work = await makeWorkDir('bad-input-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store` });
    scu = await RawScu.connect(listener.port);
    const association = await scu.associate({
      contexts: [
        { id: 1, abstractSyntax: SC, transferSyntaxes: [EXPLICIT_LE] },
        { id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] },
      ],
    });
    expect(association.accepted).toBe(true);
  });

  afterAll(async () => {
    scu?.destroy();
    await listener?.stop();
    await removeWorkDir(work);
  });

  async function storedFiles(): Promise<string[]> {
    const entries = await readdir(`${work}/store`, { recursive: true }).catch(() => [] as string[]);
    return entries.filter((name) => name.endsWith('.dcm')).map(String);
  }

  test('a data set whose SOP Class differs from the command is refused with 0xA900 and not stored', async () => {
    // GIVEN a CT data set sent under a Secondary Capture command
    const { dataSet, info } = instance({ sopClassUid: CT });
    // WHEN it is stored on the SC context
    const response = await scu.cStore({ contextId: 1, sopClassUid: SC, sopInstanceUid: info.sopInstanceUid, dataSet });
    // THEN the status is 0xA900 with an error comment, and nothing is written
    expect(response?.status).toBe(0xa900);
    expect(response?.comment).toMatch(/SOP Class/);
    expect((await storedFiles()).filter((f) => f.includes(info.sopInstanceUid))).toEqual([]);
  });

  test('a data set whose SOP Instance UID differs from the command is refused with 0xC001', async () => {
    const { dataSet } = instance();
    const response = await scu.cStore({ contextId: 1, sopClassUid: SC, sopInstanceUid: '1.2.3.4.5.6.7.8.9', dataSet });
    expect(response?.status).toBe(0xc001);
    expect(await storedFiles()).not.toContainEqual(expect.stringContaining('1.2.3.4.5.6.7.8.9'));
  });

  test('a truncated data set is refused with 0xC000, never stored as if whole', async () => {
    // GIVEN a data set cut 100 bytes into its pixel data, sent with the last-fragment flag
    const { dataSet, info } = instance({ rows: 64, columns: 64 });
    const response = await scu.cStore({ contextId: 1, sopClassUid: SC, sopInstanceUid: info.sopInstanceUid, dataSet: dataSet.subarray(0, dataSet.length - 4000) });
    expect(response?.status).toBe(0xc000);
    expect((await storedFiles()).filter((f) => f.includes(info.sopInstanceUid))).toEqual([]);
  });

  test('bytes that are not a data set in the negotiated syntax are refused with 0xC000', async () => {
    const response = await scu.cStore({ contextId: 1, sopClassUid: SC, sopInstanceUid: '1.2.3.4.5.6.7.8.10', dataSet: Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n') });
    expect(response?.status).toBe(0xc000);
  });

  test('a data set without a Study Instance UID cannot be named by the default key and is refused with 0xC000', async () => {
    const { dataSet, info } = instance({ studyInstanceUid: '' });
    const response = await scu.cStore({ contextId: 1, sopClassUid: SC, sopInstanceUid: info.sopInstanceUid, dataSet });
    expect(response?.status).toBe(0xc000);
  });

  test('a command whose SOP Class is not its presentation context\'s is refused with 0x0122', async () => {
    // GIVEN a CT instance with a matching CT command, but sent on the Secondary Capture context
    const { dataSet, info } = instance({ sopClassUid: CT });
    const response = await scu.cStore({ contextId: 1, sopClassUid: CT, sopInstanceUid: info.sopInstanceUid, dataSet });
    expect(response?.status).toBe(0x0122);
    expect((await storedFiles()).filter((f) => f.includes(info.sopInstanceUid))).toEqual([]);
  });

  test('after all those refusals a good instance on the same association is stored', async () => {
    const { dataSet, info } = instance();
    const response = await scu.cStore({ contextId: 1, sopClassUid: SC, sopInstanceUid: info.sopInstanceUid, dataSet });
    expect(response?.status).toBe(0x0000);
    expect(await storedFiles()).toContainEqual(expect.stringContaining(`${info.sopInstanceUid}.dcm`));
  });

  test('a failure line is logged with its status and reason, and no patient data', async () => {
    const failures = listener.logs.filter((line) => line['event'] === 'store-failed');
    expect(failures.map((line) => line['status'])).toEqual(['0xA900', '0xC001', '0xC000', '0xC000', '0xC000', '0x0122']);
    const text = listener.stdoutLines.join('\n');
    expect(text).not.toMatch(/CANARY|PATIENT\^|Doe/i);
  });
});

describe('presentation contexts are enforced, not just negotiated', () => {
  test('a C-STORE on a context the listener refused aborts the association, and nothing is stored', async () => {
    const work = await makeWorkDir('refused-context-');
    const listener = await startListener({ STORAGE_URL: `file://${work}/store` });
    try {
      // GIVEN an association whose Query/Retrieve context (3) was refused
      const scu = await RawScu.connect(listener.port);
      const association = await scu.associate({
        contexts: [
          { id: 1, abstractSyntax: SC, transferSyntaxes: [EXPLICIT_LE] },
          { id: 3, abstractSyntax: '1.2.840.10008.5.1.4.1.2.2.1', transferSyntaxes: [EXPLICIT_LE] },
        ],
      });
      expect(association.contexts.get(3)?.result).toBe(3);
      // WHEN a Secondary Capture instance is sent on that refused context
      const { dataSet, info } = instance();
      const response = await scu.cStore({ contextId: 3, sopClassUid: SC, sopInstanceUid: info.sopInstanceUid, dataSet });
      // THEN there is no C-STORE response, the association is aborted and no object exists
      expect(response).toBeUndefined();
      await scu.closed;
      const stored = await readdir(`${work}/store`, { recursive: true }).catch(() => [] as string[]);
      expect(stored.filter((name) => String(name).includes(info.sopInstanceUid))).toEqual([]);
    } finally {
      await listener.stop();
      await removeWorkDir(work);
    }
  });

  test('Query/Retrieve models under the storage root (Protocol Approval) are not mistaken for storage', async () => {
    const work = await makeWorkDir('protocol-approval-');
    const listener = await startListener({ STORAGE_URL: `file://${work}/store` });
    try {
      const scu = await RawScu.connect(listener.port);
      const association = await scu.associate({
        contexts: [{ id: 1, abstractSyntax: '1.2.840.10008.5.1.4.1.1.200.4', transferSyntaxes: [EXPLICIT_LE] }],
      });
      scu.destroy();
      expect(association.contexts.get(1)?.result).toBe(3);
    } finally {
      await listener.stop();
      await removeWorkDir(work);
    }
  });
});
