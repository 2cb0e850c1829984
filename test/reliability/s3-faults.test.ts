// Storage faults under real senders: the gateway stopped, killed mid multipart upload and
// restarted under dcmtk's storescu; S3 answering 500/503, resetting connections, answering
// an error after doing the work, and slowing down, through test/support/fault-proxy.ts; and
// Orthanc routing a study while S3 fails part of its writes. Every scenario ends with the
// shared invariant checker (harness.ts) and reports its figures.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPrivateGateway } from '../support/ceph.ts';
import { storescu } from '../support/dcmtk.ts';
import { startFaultProxy, type FaultProxy, type S3Operation } from '../support/fault-proxy.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { startOrthanc, type OrthancClient } from '../support/orthanc.ts';
import { awsEnv, createBucket, emptyBucket, headObject, listKeys, listOpenMultipartUploads } from '../support/s3.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';
import { startDimseTap, type DimseTap } from './dimse-tap.ts';
import { attemptsFrom, buildStudy, checkInvariants, mapLimit, s3View, storescuResend, type Attempt, type Sent } from './harness.ts';
import { pollUntil } from '../support/proc.ts';

const PHI = { patientName: 'ZZFAULT^HILDEGARD', patientId: 'MRN-FAULT-99120', patientBirthDate: '19270302', accessionNumber: 'ACC-FAULT-7781' };
const CANARIES = ['ZZFAULT', 'HILDEGARD', 'MRN-FAULT-99120', '19270302', 'ACC-FAULT-7781'];
const WRITES: S3Operation[] = ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'];
const SEED = Number(process.env.RELIABILITY_SEED ?? 20260607);

const s3Env = (endpoint: string, bucket: string, prefix: string) => ({
  ...awsEnv(endpoint),
  STORAGE_URL: `s3://${bucket}/${prefix}`,
  S3_FORCE_PATH_STYLE: 'true',
  S3_CHECKSUM_MODE: 'when-required',
  S3_PART_SIZE_MIB: '5',
  S3_REQUEST_TIMEOUT_SECONDS: '5',
});

const statuses = (attempts: Attempt[]) => [...new Set(attempts.map((a) => a.status).filter((s) => s !== 0))];

describe('storage faults: what was acknowledged is stored, nothing is left open, a resend completes the study', () => {
  let work: string;
  let bucket: string;
  let gateway: Awaited<ReturnType<typeof startPrivateGateway>>;
  let proxy: FaultProxy;
  // One listener straight on the gateway (for gateway outages), one behind the fault proxy.
  let direct: ListenerProcess;
  let proxied: ListenerProcess;
  let studies = 0;

  const study = (small: number, large: number) => buildStudy(join(work, `study-${++studies}`), { small, large, largeFrames: 12, common: PHI });

  async function send(listener: ListenerProcess, instances: Sent[]): Promise<Attempt[]> {
    const result = await storescu('127.0.0.1', listener.port, instances.map((i) => i.path), { aec: 'DICOMS3', noHalt: true });
    return attemptsFrom(instances, result.files);
  }

  /** Resolves once a multipart upload under `prefix` is open. */
  const uploadOpened = (prefix: string) => pollUntil(async () => (await listOpenMultipartUploads(bucket)).filter((u) => u.Key?.startsWith(prefix)), (u) => u.length > 0, 30_000, 100);

  beforeAll(async () => {
    work = await makeWorkDir('rel-s3-faults-');
    bucket = await createBucket();
    gateway = await startPrivateGateway();
    proxy = await startFaultProxy(Number(new URL(gateway.endpoint).port), { seed: SEED });
    [direct, proxied] = await Promise.all([
      startListener(s3Env(gateway.endpoint, bucket, 'direct')),
      // A 2 s stall timeout: storage that is slow or retrying must never look like a stalled sender.
      startListener({ ...s3Env(proxy.endpoint, bucket, 'proxied'), DICOM_STALL_TIMEOUT_SECONDS: '2' }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([direct?.stop().catch(() => undefined), proxied?.stop().catch(() => undefined)]);
    await proxy?.close();
    await gateway?.stop().catch(() => undefined);
    await emptyBucket(bucket).catch(() => undefined);
    await removeWorkDir(work);
  });

  test('RGW stopped before the transfer: every instance is refused with 0xA700, and all of them are stored once it is back', async () => {
    // GIVEN a study and a gateway that is down
    const instances = await study(8, 1);
    await gateway.stop();
    // WHEN the study is sent
    const attempts = await send(direct, instances);
    // THEN every instance is answered 0xA700 (retry later); after the gateway is back the invariants hold
    await gateway.start();
    const { figures, violations } = await checkInvariants({ scenario: 'rgw-stopped-before-transfer', store: s3View(bucket, 'direct'), attempts, listener: direct, resend: storescuResend(direct.port) });
    expect(attempts.map((a) => a.status)).toEqual(instances.map(() => 0xa700));
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, acknowledged: 0, complete: true });
  });

  test('RGW killed in the middle of a multipart upload: acknowledged instances stay stored, the upload is aborted once it is back', async () => {
    // GIVEN a study on its way, with a 12 MiB instance being uploaded in parts
    const instances = await study(10, 2);
    const sending = send(direct, instances);
    expect((await uploadOpened(`direct/${instances[0]!.studyInstanceUid}/`)).length).toBeGreaterThan(0);
    // WHEN the gateway is SIGKILLed mid-upload, and later started again
    await gateway.kill();
    const attempts = await sending;
    await gateway.start();
    // THEN failures are reported as 0xA700, nothing acknowledged is lost, and no upload stays open
    const { figures, violations } = await checkInvariants({ scenario: 'rgw-killed-mid-multipart', store: s3View(bucket, 'direct'), attempts, listener: direct, resend: storescuResend(direct.port) });
    expect(statuses(attempts)).toEqual([0xa700]);
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
    expect(figures.acknowledged).toBeGreaterThan(0);
  });

  test('RGW restarted during a study: the study completes with at most a resend of what failed', async () => {
    // GIVEN a 32-instance study on its way
    const instances = await study(30, 2);
    const sending = send(direct, instances);
    await uploadOpened(`direct/${instances[0]!.studyInstanceUid}/`);
    // WHEN the gateway is stopped and started again while the study is being sent
    await gateway.stop();
    await gateway.start();
    const attempts = await sending;
    // THEN the invariants hold
    const { figures, violations } = await checkInvariants({ scenario: 'rgw-restarted-during-study', store: s3View(bucket, 'direct'), attempts, listener: direct, resend: storescuResend(direct.port) });
    expect(statuses(attempts).filter((s) => s !== 0xa700)).toEqual([]);
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
  });

  test('S3 answering 503 SlowDown to 30% of writes: SDK retries absorb most, the rest are refused with 0xA700', async () => {
    // GIVEN 30% of PutObject/UploadPart/Create/Complete requests answered 503 SlowDown (seeded)
    const instances = await study(20, 2);
    proxy.setRules([{ match: { operation: WRITES }, action: 'fail', status: 503, fraction: 0.3 }]);
    const before = proxy.faults();
    // WHEN the study is sent
    const attempts = await send(proxied, instances);
    const injected = proxy.faults() - before;
    proxy.pass();
    // THEN faults were really injected, failures are 0xA700 only, and the invariants hold
    const { figures, violations } = await checkInvariants({ scenario: 's3-503-slowdown-30pct', store: s3View(bucket, 'proxied'), attempts, listener: proxied, resend: storescuResend(proxied.port), notes: { faultsInjected: injected, seed: SEED } });
    expect(injected).toBeGreaterThan(0);
    expect(statuses(attempts).filter((s) => s !== 0xa700)).toEqual([]);
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
  });

  test('S3 answering 500 to every CompleteMultipartUpload and refusing aborts until it recovers: no upload outlives the recovery', async () => {
    // GIVEN CompleteMultipartUpload and AbortMultipartUpload both failing with 500 InternalError
    const instances = await study(6, 2);
    proxy.setRules([
      { match: { operation: 'CompleteMultipartUpload' }, action: 'fail', status: 500 },
      { match: { operation: 'AbortMultipartUpload' }, action: 'fail', status: 500 },
    ]);
    // WHEN the study is sent, then S3 recovers
    const attempts = await send(proxied, instances);
    const abortsRefused = proxy.stats()['AbortMultipartUpload']?.faults ?? 0;
    proxy.pass();
    // THEN both multipart instances were refused, the small ones stored, and the background abort retries clean up
    const { figures, violations } = await checkInvariants({ scenario: 's3-500-complete-and-abort', store: s3View(bucket, 'proxied'), attempts, listener: proxied, resend: storescuResend(proxied.port), notes: { abortsRefused } });
    expect(figures.failedAsReported).toBe(2);
    expect(statuses(attempts)).toEqual([0xa700]);
    expect(abortsRefused).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
  });

  test('S3 answers 500 after it has done the work (lost responses): never a false Success, never a half-written object', async () => {
    // GIVEN every CompleteMultipartUpload and one PutObject in three answered 500 after the gateway completed it
    const instances = await study(12, 2);
    proxy.setRules([
      { match: { operation: 'CompleteMultipartUpload' }, action: 'fail', status: 500, phase: 'response' },
      { match: { operation: 'PutObject' }, action: 'fail', status: 500, phase: 'response', every: 3 },
    ]);
    // WHEN the study is sent
    const attempts = await send(proxied, instances);
    const injected = proxy.stats();
    proxy.pass();
    // THEN the invariants hold (an object stored but answered as a failure is harmless: the resend overwrites it)
    const { figures, violations } = await checkInvariants({
      scenario: 's3-500-after-commit',
      store: s3View(bucket, 'proxied'),
      attempts,
      listener: proxied,
      resend: storescuResend(proxied.port),
      notes: { completeFaults: injected['CompleteMultipartUpload']?.faults ?? 0, putFaults: injected['PutObject']?.faults ?? 0 },
    });
    expect(injected['PutObject']?.faults ?? 0).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, corrupt: 0, orphanedUploads: 0, complete: true });
  });

  test('S3 dropping 20% of connections mid-request: the invariants hold', async () => {
    // GIVEN 20% of writes cut mid-request (seeded)
    const instances = await study(16, 2);
    proxy.setRules([{ match: { operation: WRITES }, action: 'reset', fraction: 0.2 }]);
    const before = proxy.faults();
    // WHEN the study is sent
    const attempts = await send(proxied, instances);
    const injected = proxy.faults() - before;
    proxy.pass();
    // THEN faults were injected, failures are 0xA700 only, and the invariants hold
    const { figures, violations } = await checkInvariants({ scenario: 's3-connection-reset-20pct', store: s3View(bucket, 'proxied'), attempts, listener: proxied, resend: storescuResend(proxied.port), notes: { faultsInjected: injected, seed: SEED } });
    expect(injected).toBeGreaterThan(0);
    expect(statuses(attempts).filter((s) => s !== 0xa700)).toEqual([]);
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
  });

  test('S3 slowed down (1.5 s per write, 4 MB/s): everything is acknowledged, and a 2 s stall timeout never trips', async () => {
    // GIVEN each PutObject/UploadPart held 1.5 s and bodies paced at 4 MB/s
    const instances = await study(6, 1);
    proxy.setRules([{ match: { operation: ['PutObject', 'UploadPart'] }, action: 'delay', delayMs: 1500 }]);
    proxy.setThrottle(4 * 1024 * 1024);
    const violationsBefore = proxied.logs.filter((l) => l['event'] === 'association-violation').length;
    // WHEN the study is sent
    const started = Date.now();
    const attempts = await send(proxied, instances);
    const seconds = (Date.now() - started) / 1000;
    proxy.pass();
    // THEN every instance is Success, slowly, without an association violation
    const { figures, violations } = await checkInvariants({ scenario: 's3-slow-1500ms-4MBps', store: s3View(bucket, 'proxied'), attempts, listener: proxied, resend: storescuResend(proxied.port), notes: { seconds: Number(seconds.toFixed(1)) } });
    expect(seconds).toBeGreaterThan(9);
    expect(figures.acknowledged).toBe(instances.length);
    expect(proxied.logs.filter((l) => l['event'] === 'association-violation').length).toBe(violationsBefore);
    expect(violations).toEqual([]);
  });

  describe('Orthanc routing a study while S3 refuses one of its instances', () => {
    let orthanc: OrthancClient;
    let tap: DimseTap;
    let instances: Sent[];
    const ids = new Map<string, string>();

    /** Orthanc's default (non-permissive) store job: it stops at the first failed C-STORE. */
    async function orthancStore(sops: string[]): Promise<{ ok: boolean; body: string }> {
      const res = await fetch(`${orthanc.baseUrl}/modalities/cloud/store`, {
        method: 'POST',
        body: JSON.stringify({ Resources: sops.map((s) => ids.get(s)), Synchronous: true }),
        signal: AbortSignal.timeout(110_000),
      });
      return { ok: res.ok, body: await res.text() };
    }

    beforeAll(async () => {
      instances = await study(16, 0);
      tap = await startDimseTap(proxied.port);
      orthanc = await startOrthanc({ modalities: { cloud: { aet: 'DICOMS3', host: '127.0.0.1', port: tap.port } } });
      for (const i of instances) ids.set(i.sopInstanceUid, await orthanc.uploadInstance(i.path));
    });

    afterAll(async () => {
      await orthanc?.stop();
      await tap?.close();
    });

    test('the job fails at the refused instance; what it heard Success for is stored; its retry completes the study', async () => {
      // GIVEN S3 answering 503 ServiceUnavailable to every attempt of the 7th PutObject (3 SDK attempts)
      proxy.setRules([{ match: { operation: 'PutObject' }, action: 'fail', status: 503, code: 'ServiceUnavailable', after: 6, times: 3 }]);
      // WHEN Orthanc sends the study
      const job = await orthancStore(instances.map((i) => i.sopInstanceUid));
      proxy.pass();
      const answered = tap.lastStatus();
      const attempts: Attempt[] = instances.map((instance) => ({ instance, status: answered.get(instance.sopInstanceUid) ?? null }));
      // THEN the job reports the 0xA700 it got, and the invariants hold with Orthanc resending the rest
      const { figures, violations } = await checkInvariants({
        scenario: 'orthanc-s3-503-one-instance',
        store: s3View(bucket, 'proxied'),
        attempts,
        listener: proxied,
        resend: async (again) => {
          const retry = await orthancStore(again.map((i) => i.sopInstanceUid));
          expect(retry.ok).toBe(true);
          const now = tap.lastStatus();
          return again.map((instance) => ({ instance, status: now.get(instance.sopInstanceUid) ?? null }));
        },
      });
      expect(job.ok).toBe(false);
      expect(job.body).toMatch(/DIMSE status 0xA700/);
      // (Orthanc picks its own order: six answered Success, the seventh 0xA700, the rest never sent.)
      const count = (s: number | null) => attempts.filter((a) => a.status === s).length;
      expect([count(0), count(0xa700), count(null)]).toEqual([6, 1, instances.length - 7]);
      expect(violations).toEqual([]);
      expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
    });
  });

  test('no patient name, ID, birth date or accession number in the listener logs, the object keys or the S3 metadata after the faults', async () => {
    // GIVEN every study above carried PHI canaries; WHEN logs, keys and metadata are collected
    const logs = [direct, proxied].map((l) => l.stdoutLines.join('\n') + l.stderr()).join('\n');
    const keys = await listKeys(bucket);
    const metadata = await mapLimit(keys, 16, async (key) => JSON.stringify((await headObject(bucket, key)).Metadata));
    const places = { logs, keys: keys.join('\n'), metadata: metadata.join('\n') };
    // THEN there was plenty to scan and no canary is anywhere in it
    expect(logs.length).toBeGreaterThan(1000);
    expect(keys.length).toBeGreaterThan(100);
    for (const [place, text] of Object.entries(places)) {
      for (const canary of CANARIES) expect(text.includes(canary), `${canary} in ${place}`).toBe(false);
    }
  });
});
