// Vitest global setup: one throwaway Ceph RGW per test run, shared by all
// test files (each file creates its own bucket). Runs once in the main vitest
// process before any worker starts; its teardown runs after all files.
//
// Test files get the settings through inject('ceph') (typed in context.ts);
// processes outside vitest can read the JSON state file named by
// DICOM_TEST_CEPH_STATE.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { logTails, startCeph, stopCeph, DEFAULT_MEMSTORE_BYTES } from './ceph.ts';
import { CEPH_STATE_ENV, RUN_DIR_ENV, type CephSettings } from './context.ts';
import { s3Client } from './s3.ts';

/**
 * One S3 write/read/delete through the gateway, with a deadline. A cluster
 * that answers "/" but cannot store (full or broken OSD) fails here, with
 * logs, instead of as request hangs in every test file. It also creates the
 * bucket index/data pools, so no test pays for that.
 */
async function probeS3(settings: CephSettings): Promise<void> {
  const s3 = s3Client({ maxAttempts: 1 }, settings);
  const bucket = `setup-probe-${Date.now().toString(36)}`;
  const opts = () => ({ abortSignal: AbortSignal.timeout(20_000) });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }), opts());
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'probe', Body: 'probe' }), opts());
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'probe' }), opts());
    if ((await got.Body?.transformToString()) !== 'probe') throw new Error('read back different bytes');
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'probe' }), opts());
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }), opts());
  } finally {
    s3.destroy();
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Under /tmp, not the repo: Ceph admin sockets are Unix sockets whose path
  // must stay under 107 bytes, whatever directory the repo is cloned into.
  const runDir = mkdtempSync(join(tmpdir(), 'dicom-s3-test-'));
  const cephDir = join(runDir, 'ceph');
  const memstoreBytes = Number(process.env.DICOM_TEST_MEMSTORE_BYTES ?? DEFAULT_MEMSTORE_BYTES);
  const started = Date.now();
  let settings;
  try {
    settings = await startCeph(cephDir, { memstoreBytes });
    await probeS3(settings).catch((e: unknown) => {
      throw new Error(`S3 probe (create bucket, put, get, delete) failed: ${String(e)}\n${logTails(cephDir)}`);
    });
  } catch (e) {
    // Kill whatever did start; keep the logs for diagnosis.
    await stopCeph(cephDir, { keepDir: true });
    throw new Error(`global setup: Ceph RGW failed to start (logs kept in ${cephDir}): ${(e as Error).message}`);
  }
  console.log(`[global-setup] Ceph RGW ready at ${settings.endpoint} in ${((Date.now() - started) / 1000).toFixed(1)} s (dir ${runDir})`);
  project.provide('ceph', settings);
  project.provide('runDir', runDir);
  process.env[CEPH_STATE_ENV] = settings.stateFile;
  process.env[RUN_DIR_ENV] = runDir;

  return async () => {
    // Reads the pid files now, so gateways restarted or added by tests are covered.
    await stopCeph(cephDir);
    rmSync(runDir, { recursive: true, force: true });
  };
}
