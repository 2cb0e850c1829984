import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCorpus, type Corpus, type CorpusEntry } from '../support/corpus.ts';
import { dcmftest, echoscu, storescu } from '../support/dcmtk.ts';
import { hashDataSet, readDataSet, readMeta } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { RawScu } from '../support/raw-scu.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

/**
 * Sent through the byte-level SCU instead of storescu: dcmtk 3.6.7 predates HTJ2K, and it
 * re-deflates a deflated file on the way out, so the wire bytes would not be the file's.
 */
const BYTE_LEVEL = new Set(['1.2.840.10008.1.2.4.201', '1.2.840.10008.1.2.4.202', '1.2.840.10008.1.2.4.203', '1.2.840.10008.1.2.1.99']);

async function send(port: number, entry: CorpusEntry): Promise<number | null | undefined> {
  if (!BYTE_LEVEL.has(entry.transferSyntaxUid)) {
    return (await storescu('127.0.0.1', port, [entry.path], { aec: 'DICOMS3' })).files[0]?.status;
  }
  const scu = await RawScu.connect(port);
  try {
    const association = await scu.associate({ contexts: [{ id: 1, abstractSyntax: entry.sopClassUid, transferSyntaxes: [entry.transferSyntaxUid] }] });
    if (association.contexts.get(1)?.result !== 0) return undefined;
    const response = await scu.cStore({ contextId: 1, sopClassUid: entry.sopClassUid, sopInstanceUid: entry.sopInstanceUid, dataSet: await readDataSet(entry.path) });
    await scu.release();
    return response?.status;
  } finally {
    scu.destroy();
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
}

function defaultKey(root: string, entry: CorpusEntry): string {
  return join(root, entry.studyInstanceUid, entry.seriesInstanceUid, `${entry.sopInstanceUid}.dcm`);
}

describe('DCMTK sender → listener → local folder', () => {
  let work: string;
  let store: string;
  let corpus: Corpus;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('file-store-');
    store = join(work, 'store');
    corpus = await buildCorpus({ dir: join(work, 'corpus'), smallCount: 60 });
    listener = await startListener({ STORAGE_URL: `file://${store}`, DICOM_AE_TITLE: 'DICOMS3' });
  });

  afterAll(async () => {
    await listener?.stop();
    await removeWorkDir(work);
  });

  test('C-ECHO is answered with Success', async () => {
    const echo = await echoscu('127.0.0.1', listener.port, { aec: 'DICOMS3' });
    expect(echo.code).toBe(0);
    expect(echo.ok).toBe(true);
  });

  test('many small instances on one association are all stored, each data set byte for byte', async () => {
    // WHEN storescu sends 60 instances
    const result = await storescu('127.0.0.1', listener.port, corpus.small.map((e) => e.path), { aec: 'DICOMS3' });
    // THEN every C-STORE is answered Success
    expect(result.files.map((f) => f.status)).toEqual(corpus.small.map(() => 0));
    // AND each object sits under study/series/instance with the sender's data set unchanged
    for (const entry of corpus.small) {
      expect(await hashDataSet(defaultKey(store, entry))).toBe(entry.dataSetSha256);
    }
  });

  test('a stored object is valid Part 10 with the file meta this product promises', async () => {
    const entry = corpus.ct;
    await storescu('127.0.0.1', listener.port, [entry.path], { aec: 'DICOMS3', aet: 'MODALITY1' });
    const path = defaultKey(store, entry);
    expect(await dcmftest(path)).toBe(true);
    const meta = await readMeta(path);
    expect(meta.mediaStorageSopClassUid).toBe(entry.sopClassUid);
    expect(meta.mediaStorageSopInstanceUid).toBe(entry.sopInstanceUid);
    expect(meta.transferSyntaxUid).toBe(entry.transferSyntaxUid);
    expect(meta.elements['00020013']).toBe('DICOMS3_010');
    expect(meta.elements['00020016']).toBe('MODALITY1');
    expect(meta.implementationClassUid).toMatch(/^2\.25\.\d+$/);
    // The preamble is 128 zero bytes followed by DICM.
    const head = (await readFile(path)).subarray(0, 132);
    expect(head.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(head.subarray(128).toString('ascii')).toBe('DICM');
  });

  test('every transfer syntax in the corpus, compressed ones included, is stored as sent', async () => {
    // GIVEN instances in implicit/explicit/big endian, deflate, JPEG, JPEG-LS, RLE, JPEG 2000, HTJ2K and MPEG
    const entries = [...corpus.transcoded, ...corpus.synthetic];
    expect(entries.length).toBeGreaterThanOrEqual(15);
    for (const entry of entries) {
      // WHEN each is sent proposing its own transfer syntax
      expect(await send(listener.port, entry), entry.name).toBe(0);
      // THEN the object keeps that transfer syntax and its data set bytes
      const path = defaultKey(store, entry);
      expect((await readMeta(path)).transferSyntaxUid, entry.name).toBe(entry.transferSyntaxUid);
      expect(await hashDataSet(path), entry.name).toBe(entry.dataSetSha256);
      expect(await dcmftest(path), entry.name).toBe(true);
    }
  });

  test('a multi-frame instance is stored byte for byte', async () => {
    const entry = corpus.multiFrame;
    const result = await storescu('127.0.0.1', listener.port, [entry.path], { aec: 'DICOMS3' });
    expect(result.files[0]?.status).toBe(0);
    expect(await hashDataSet(defaultKey(store, entry))).toBe(entry.dataSetSha256);
  });

  test('resending an instance overwrites it in place and leaves no temporary file', async () => {
    const entry = corpus.small[0]!;
    const before = (await stat(defaultKey(store, entry))).mtimeMs;
    const result = await storescu('127.0.0.1', listener.port, [entry.path], { aec: 'DICOMS3' });
    expect(result.files[0]?.status).toBe(0);
    expect((await stat(defaultKey(store, entry))).mtimeMs).toBeGreaterThanOrEqual(before);
    const leftovers = (await filesUnder(store)).filter((f) => f.endsWith('.partial'));
    expect(leftovers).toEqual([]);
  });
});

describe('key template', () => {
  test('the flat template puts every instance directly under the prefix, as AWS HealthImaging imports want', async () => {
    const work = await makeWorkDir('flat-');
    const corpus = await buildCorpus({ dir: join(work, 'corpus'), smallCount: 3 });
    const listener = await startListener({ STORAGE_URL: `file://${work}/store`, STORAGE_KEY_TEMPLATE: '{prefix}/{SOPInstanceUID}.dcm' });
    try {
      await storescu('127.0.0.1', listener.port, corpus.small.map((e) => e.path), { aec: 'DICOMS3' });
      const stored = (await filesUnder(join(work, 'store'))).map((f) => f.slice(join(work, 'store').length + 1));
      expect(stored).toEqual(corpus.small.map((e) => `${e.sopInstanceUid}.dcm`).sort());
    } finally {
      await listener.stop();
      await removeWorkDir(work);
    }
  });
});
