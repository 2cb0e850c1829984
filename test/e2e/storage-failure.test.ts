import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPrivateGateway } from '../support/ceph.ts';
import { buildCorpus, type Corpus } from '../support/corpus.ts';
import { storescu } from '../support/dcmtk.ts';
import { writeLargeInstance, type InstanceInfo } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { s3ListenerEnv, createBucket, listKeys, listOpenMultipartUploads } from '../support/s3.ts';
import { pollUntil } from '../support/proc.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';


// The listener talks to a gateway of its own, so stopping it leaves other test files' S3 alone.
describe('storage outages: the sender is told, nothing half-written stays, a resend completes', () => {
  let work: string;
  let bucket: string;
  let corpus: Corpus;
  let big: InstanceInfo;
  let gateway: Awaited<ReturnType<typeof startPrivateGateway>>;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('storage-failure-');
    bucket = await createBucket();
    corpus = await buildCorpus({ dir: join(work, 'corpus'), smallCount: 5 });
    big = await writeLargeInstance(join(work, 'big.dcm'), { numberOfFrames: 40 });
    gateway = await startPrivateGateway();
    listener = await startListener({
      ...s3ListenerEnv(bucket, 'studies', gateway.endpoint),
      S3_PART_SIZE_MIB: '5',
      S3_QUEUE_SIZE: '1',
      S3_REQUEST_TIMEOUT_SECONDS: '5',
    });
  });

  afterAll(async () => {
    await listener?.stop();
    await gateway?.stop().catch(() => undefined);
    await removeWorkDir(work);
  });

  test('with storage down before the transfer, every instance is answered 0xA700 and nothing is stored', async () => {
    // GIVEN the listener's S3 endpoint is stopped
    await gateway.stop();
    // WHEN a study is sent
    const files = corpus.small.map((e) => e.path);
    const result = await storescu('127.0.0.1', listener.port, files, { aec: 'DICOMS3', noHalt: true });
    // THEN each C-STORE is refused as out of resources (the sender retries later)
    expect(result.files.map((f) => f.status)).toEqual(files.map(() => 0xa700));
    expect(await listKeys(bucket)).toEqual([]);
  });

  test('after storage comes back, resending the study stores all of it', async () => {
    await gateway.start();
    const result = await storescu('127.0.0.1', listener.port, corpus.small.map((e) => e.path), { aec: 'DICOMS3' });
    expect(result.files.map((f) => f.status)).toEqual(corpus.small.map(() => 0));
    expect((await listKeys(bucket)).length).toBe(corpus.small.length);
  });

  test('storage killed in the middle of a multipart upload: failure status, no object, no open upload once it is back', async () => {
    // GIVEN a 40 MiB instance on its way up in parts
    const sending = storescu('127.0.0.1', listener.port, [big.path], { aec: 'DICOMS3' });
    const started = await pollUntil(() => listOpenMultipartUploads(bucket), (uploads) => uploads.length > 0, 30_000);
    expect(started.length).toBe(1);
    // WHEN the gateway dies mid-upload
    await gateway.kill();
    // THEN the sender hears a failure status, not Success
    const result = await sending;
    expect(result.files[0]?.status).toBe(0xa700);
    // AND once storage is back, the listener's retried abort leaves no upload open and no object
    await gateway.start();
    const open = await pollUntil(() => listOpenMultipartUploads(bucket), (uploads) => uploads.length === 0, 45_000);
    expect(open).toEqual([]);
    expect(await listKeys(bucket, `studies/${big.studyInstanceUid}/`)).toEqual([]);
  });

  test('the same instance resent after recovery is stored', async () => {
    const result = await storescu('127.0.0.1', listener.port, [big.path], { aec: 'DICOMS3' });
    expect(result.files[0]?.status).toBe(0);
    expect(await listKeys(bucket, `studies/${big.studyInstanceUid}/`)).toEqual([`studies/${big.studyInstanceUid}/${big.seriesInstanceUid}/${big.sopInstanceUid}.dcm`]);
  });
});
