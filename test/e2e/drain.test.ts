import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { cephSettings } from '../support/context.ts';
import { echoscu, storescu } from '../support/dcmtk.ts';
import { writeLargeInstance, type InstanceInfo } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { s3ListenerEnv, createBucket, listKeys, listOpenMultipartUploads } from '../support/s3.ts';
import { startThrottleProxy, type ThrottleProxy } from '../support/throttle-proxy.ts';
import { pollUntil } from '../support/proc.ts';
import { makeWorkDir } from '../support/work-dir.ts';

const MIB = 1024 * 1024;


// Storage is slowed to about 2 MB/s, so a 16 MiB instance is still in flight when SIGTERM comes.
describe('graceful drain on SIGTERM', () => {
  let instance: InstanceInfo;
  let proxy: ThrottleProxy;
  let listener: ListenerProcess | undefined;

  beforeAll(async () => {
    const work = await makeWorkDir('drain-');
    instance = await writeLargeInstance(join(work, 'big.dcm'), { numberOfFrames: 16 });
    proxy = await startThrottleProxy(Number(new URL(cephSettings().endpoint).port), 2 * MIB);
    return async () => {
      await proxy.close();
    };
  });

  afterEach(async () => {
    if (listener) await listener.kill().catch(() => undefined);
    listener = undefined;
  });

  async function start(bucket: string, drainSeconds: number): Promise<ListenerProcess> {
    return startListener({
      ...s3ListenerEnv(bucket, 'drain', proxy.endpoint),
      DRAIN_TIMEOUT_SECONDS: String(drainSeconds),
    });
  }

  const key = (bucket: string) => listKeys(bucket, `drain/${instance.studyInstanceUid}/`);

  test('the instance in flight completes, new associations are refused, readiness fails, and the process exits 0', async () => {
    const bucket = await createBucket();
    listener = await start(bucket, 60);
    const { port, opsPort } = listener;
    // GIVEN an instance on its way into slow storage
    const sending = storescu('127.0.0.1', port, [instance.path], { aec: 'DICOMS3' });
    await pollUntil(() => listOpenMultipartUploads(bucket), (uploads) => uploads.length > 0, 20_000);
    // WHEN the pod is told to stop
    const signalled = Date.now();
    process.kill(listener.pid, 'SIGTERM');
    await listener.waitForLog((line) => line['event'] === 'draining', 5000);
    // THEN readiness fails at once and new associations are refused
    expect((await fetch(`http://127.0.0.1:${opsPort}/readyz`)).status).toBe(503);
    expect((await echoscu('127.0.0.1', port, { aec: 'DICOMS3', timeoutMs: 10_000 })).ok).toBe(false);
    // AND the transfer in flight still ends in Success with its object stored
    expect((await sending).files[0]?.status).toBe(0);
    expect((await key(bucket)).length).toBe(1);
    // AND the process exits 0 well within the drain timeout
    expect(await listener.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(60_000);
  });

  test('with a drain timeout shorter than the transfer, the instance is never answered Success without its object', async () => {
    const bucket = await createBucket();
    listener = await start(bucket, 1);
    const sending = storescu('127.0.0.1', listener.port, [instance.path], { aec: 'DICOMS3' });
    await pollUntil(() => listOpenMultipartUploads(bucket), (uploads) => uploads.length > 0, 20_000);
    process.kill(listener.pid, 'SIGTERM');
    const result = await sending;
    expect(await listener.exited).toEqual({ code: 0, signal: null });
    // The sender was aborted or told of a failure; had it heard Success, the object would have to exist.
    const status = result.files[0]?.status ?? null;
    if (status === 0) expect((await key(bucket)).length).toBe(1);
    else expect((await key(bucket)).length).toBe(0);
    expect(status).not.toBe(0);
    // And the abandoned upload does not linger once the listener has gone.
    proxy.setRate(Infinity);
    expect(await pollUntil(() => listOpenMultipartUploads(bucket), (uploads) => uploads.length === 0, 30_000)).toEqual([]);
  });
});
