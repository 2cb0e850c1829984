import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCorpus, type Corpus, type CorpusEntry } from '../support/corpus.ts';
import { storescu } from '../support/dcmtk.ts';
import { dataSetOffset, readDataSet, writeLargeInstance, type InstanceInfo } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { RawScu } from '../support/raw-scu.ts';
import { s3ListenerEnv, createBucket, getObjectBytes, headObject, listKeys, listOpenMultipartUploads } from '../support/s3.ts';
import { pollUntil } from '../support/proc.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

function key(entry: Pick<InstanceInfo, 'studyInstanceUid' | 'seriesInstanceUid' | 'sopInstanceUid'>): string {
  return `studies/${entry.studyInstanceUid}/${entry.seriesInstanceUid}/${entry.sopInstanceUid}.dcm`;
}

/** The data set of a stored Part 10 object: everything after its File Meta group. */
function dataSetOf(object: Buffer): Buffer {
  return object.subarray(dataSetOffset(object));
}


describe('DCMTK sender → listener → Ceph RGW (S3)', () => {
  let work: string;
  let bucket: string;
  let corpus: Corpus;
  let big: InstanceInfo;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('s3-store-');
    bucket = await createBucket();
    corpus = await buildCorpus({
      dir: join(work, 'corpus'),
      smallCount: 20,
      common: { patientName: 'CANARY^PATIENT', patientId: 'PID-CANARY-4711', patientBirthDate: '19010101', accessionNumber: 'ACC-CANARY-99' },
    });
    // Larger than two 5 MiB parts, so it goes through a real multipart upload.
    big = await writeLargeInstance(join(work, 'big.dcm'), { numberOfFrames: 12 });
    listener = await startListener({
      ...s3ListenerEnv(bucket, 'studies'),
      S3_PART_SIZE_MIB: '5',
    });
  });

  afterAll(async () => {
    await listener?.stop();
    await removeWorkDir(work);
  });

  test('small instances each become one object whose data set is byte for byte the sent one', async () => {
    const result = await storescu('127.0.0.1', listener.port, corpus.small.map((e) => e.path), { aec: 'DICOMS3' });
    expect(result.files.map((f) => f.status)).toEqual(corpus.small.map(() => 0));
    for (const entry of corpus.small) {
      const object = await getObjectBytes(bucket, key(entry));
      expect(dataSetOf(object).equals(await readDataSet(entry.path))).toBe(true);
    }
  });

  test('an instance larger than a part goes up in parts, is verified, and leaves no open upload', async () => {
    const result = await storescu('127.0.0.1', listener.port, [big.path], { aec: 'DICOMS3' });
    expect(result.files[0]?.status).toBe(0);
    const head = await headObject(bucket, key(big));
    // A multipart ETag ends in "-<parts>": the listener really used parts.
    expect(head.ETag).toMatch(/-\d+"$/);
    expect(dataSetOf(await getObjectBytes(bucket, key(big))).equals(await readDataSet(big.path))).toBe(true);
    expect(await listOpenMultipartUploads(bucket)).toEqual([]);
  });

  test('object metadata names the transfer, never the patient', async () => {
    const entry = corpus.ct;
    await storescu('127.0.0.1', listener.port, [entry.path], { aec: 'DICOMS3', aet: 'MODALITY7' });
    const head = await headObject(bucket, key(entry));
    expect(head.ContentType).toBe('application/dicom');
    expect(head.Metadata).toMatchObject({
      'calling-ae': 'MODALITY7',
      'called-ae': 'DICOMS3',
      'transfer-syntax': entry.transferSyntaxUid,
      'sop-class': entry.sopClassUid,
    });
    // The recorded CRC32 is that of the stored object's bytes, big-endian, base64.
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(await getObjectBytes(bucket, key(entry))));
    expect(head.Metadata?.['crc32']).toBe(crc.toString('base64'));
    expect(Date.parse(head.Metadata?.['received-at'] ?? '')).not.toBeNaN();
    const everything = JSON.stringify(head.Metadata);
    for (const canary of ['CANARY', 'PID-CANARY-4711', '19010101', 'ACC-CANARY-99']) expect(everything).not.toContain(canary);
  });

  test('a connection dropped mid-instance leaves neither an object nor an open multipart upload', async () => {
    // GIVEN a sender that gets well into a multipart-sized instance
    const other = await writeLargeInstance(join(work, 'dropped.dcm'), { numberOfFrames: 12 });
    const dataSet = await readDataSet(other.path);
    const scu = await RawScu.connect(listener.port);
    const association = await scu.associate({ contexts: [{ id: 1, abstractSyntax: other.sopClassUid, transferSyntaxes: [other.transferSyntaxUid] }] });
    expect(association.contexts.get(1)?.result).toBe(0);
    scu.sendPartialInstance({ contextId: 1, sopClassUid: other.sopClassUid, sopInstanceUid: other.sopInstanceUid, dataSet, bytes: 9 * 1024 * 1024 });
    const started = await pollUntil(() => listOpenMultipartUploads(bucket), (uploads) => uploads.length > 0, 20_000);
    expect(started.length).toBe(1);
    // WHEN its connection drops
    scu.destroy();
    // THEN the upload is aborted and nothing is stored under the instance's key
    const open = await pollUntil(() => listOpenMultipartUploads(bucket), (uploads) => uploads.length === 0, 20_000);
    expect(open).toEqual([]);
    expect(await listKeys(bucket, key(other))).toEqual([]);
  });

  test('each transfer syntax variant lands under its own key with its transfer syntax in the metadata', async () => {
    const variants: CorpusEntry[] = corpus.transcoded.filter((e) => e.transferSyntaxUid !== '1.2.840.10008.1.2.1.99');
    for (const entry of variants) {
      const result = await storescu('127.0.0.1', listener.port, [entry.path], { aec: 'DICOMS3' });
      expect(result.files[0]?.status, entry.name).toBe(0);
      expect((await headObject(bucket, key(entry))).Metadata?.['transfer-syntax'], entry.name).toBe(entry.transferSyntaxUid);
    }
  });
});
