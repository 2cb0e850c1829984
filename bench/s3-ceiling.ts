// The S3 ceiling: the same objects the listener stores, PUT straight from disk
// to the same gateway with the AWS SDK, at the same concurrency (one lane per
// association, each lane one object at a time, as a DICOM sender waits for
// each C-STORE-RSP) and the same multipart settings (lib-storage Upload with
// the listener's part size and queue size above one part, PutObject at or
// below it, which is where the listener switches too).
//
// Protocol with bench/main.ts, one JSON object per line:
//   stdin  1: the job (CeilingJob)           stdout: {"ready":true} after the warm-up PUT
//   stdin  2: "go"                           stdout: {"results":[...]} when every lane is done
//   stdin  3: "exit" (after the parent has read this process's CPU and memory)
// Run as a separate process so its CPU time and peak RSS are measured the way
// the listener's are.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
// Type only: the test support's s3Client() would load vitest into this process and its profile.
import type { CephSettings } from '../test/support/context.ts';

export interface CeilingObject {
  path: string;
  key: string;
  bytes: number;
}

export interface CeilingJob {
  settings: CephSettings;
  bucket: string;
  partSizeBytes: number;
  queueSize: number;
  warmup: CeilingObject;
  lanes: CeilingObject[][];
}

export interface CeilingResult {
  key: string;
  bytes: number;
  /** Epoch milliseconds (sub-millisecond precision). */
  startMs: number;
  endMs: number;
}

const now = () => performance.timeOrigin + performance.now();

async function put(client: S3Client, job: CeilingJob, object: CeilingObject): Promise<void> {
  if (object.bytes > job.partSizeBytes) {
    const upload = new Upload({
      client,
      partSize: job.partSizeBytes,
      queueSize: job.queueSize,
      leavePartsOnError: false,
      params: { Bucket: job.bucket, Key: object.key, ContentType: 'application/dicom', Body: createReadStream(object.path, { highWaterMark: 256 * 1024 }) },
    });
    await upload.done();
    return;
  }
  const body = await readFile(object.path);
  await client.send(new PutObjectCommand({ Bucket: job.bucket, Key: object.key, ContentType: 'application/dicom', Body: body, ContentLength: body.length }));
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async (): Promise<string> => {
  const r = await lines.next();
  if (r.done) throw new Error('s3-ceiling: stdin closed');
  return r.value;
};

const job = JSON.parse(await next()) as CeilingJob;
// The settings of test/support/s3.ts s3Client(): path-style, and no flexible checksums (RGW 16.2 has none).
const client = new S3Client({
  endpoint: job.settings.endpoint,
  region: job.settings.region,
  credentials: { accessKeyId: job.settings.accessKeyId, secretAccessKey: job.settings.secretAccessKey },
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
await put(client, job, job.warmup);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
if ((await next()).trim() !== 'go') throw new Error('s3-ceiling: expected "go"');
const results: CeilingResult[] = [];
await Promise.all(job.lanes.map(async (lane) => {
  for (const object of lane) {
    const startMs = now();
    await put(client, job, object);
    results.push({ key: object.key, bytes: object.bytes, startMs, endMs: now() });
  }
}));
process.stdout.write(`${JSON.stringify({ results })}\n`);
await next().catch(() => 'exit');
client.destroy();
process.exit(0);
