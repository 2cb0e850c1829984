import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { storescu } from '../support/dcmtk.ts';
import { writeLargeInstance, type InstanceInfo } from '../support/dicom-file.ts';
import { productionCommand, REPO_ROOT, startListener, type ListenerProcess } from '../support/listener-process.ts';
import { s3ListenerEnv, createBucket, headObject, s3Client } from '../support/s3.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

const MIB = 1024 * 1024;
/** The promise: memory is bounded by configuration, not by instance size. */
const PEAK_RSS_BOUND = 200 * MIB;

describe('memory stays flat whatever the instance size', () => {
  let work: string;
  let bucket: string;
  let huge: InstanceInfo;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('memory-');
    // Measure what production runs: the compiled listener, as the container image does.
    await promisify(execFile)(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], { cwd: REPO_ROOT });
    bucket = await createBucket();
    // 1 GiB of pixel data, written frame by frame so the test itself stays small too.
    huge = await writeLargeInstance(join(work, 'huge.dcm'), { numberOfFrames: 1024 });
    listener = await startListener({
      ...s3ListenerEnv(bucket, 'studies'),
    }, productionCommand());
  }, 300_000);

  afterAll(async () => {
    await listener?.stop();
    const key = `studies/${huge.studyInstanceUid}/${huge.seriesInstanceUid}/${huge.sopInstanceUid}.dcm`;
    await s3Client().send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
    await removeWorkDir(work);
  });

  test('a 1 GiB instance streams into S3 with the listener under 200 MB peak RSS', async () => {
    expect(huge.fileBytes).toBeGreaterThan(1024 * MIB);
    const result = await storescu('127.0.0.1', listener.port, [huge.path], { aec: 'DICOMS3', timeoutMs: 280_000 });
    expect(result.files[0]?.status).toBe(0);
    const head = await headObject(bucket, `studies/${huge.studyInstanceUid}/${huge.seriesInstanceUid}/${huge.sopInstanceUid}.dcm`);
    expect(head.ContentLength).toBeGreaterThan(1024 * MIB);
    const peak = listener.peakRssBytes();
    console.log(`peak RSS ${(peak / MIB).toFixed(1)} MiB for a ${(huge.fileBytes / MIB).toFixed(0)} MiB instance`);
    expect(peak).toBeLessThan(PEAK_RSS_BOUND);
  }, 300_000);
});
