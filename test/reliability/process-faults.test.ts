// Faults of the listener process and of the sender's connection: SIGKILL mid-association
// (then a restart), SIGTERM mid-transfer (drain), and a sender whose connection is cut in
// the middle of a P-DATA-TF. Every scenario ends with the shared invariant checker.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { storescu } from '../support/dcmtk.ts';
import { dataSetOffset, SopClass, TransferSyntax } from '../support/dicom-file.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { cephSettings } from '../support/context.ts';
import { pdata, PduType, RawScu } from '../support/raw-scu.ts';
import { awsEnv, createBucket, emptyBucket, listOpenMultipartUploads } from '../support/s3.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';
import { attemptsFrom, buildStudy, checkInvariants, s3View, sleep, storescuResend, type Attempt, type Sent } from './harness.ts';
import { pollUntil } from '../support/proc.ts';

const PHI = { patientName: 'ZZPROC^ADELHEID', patientId: 'MRN-PROC-44120', patientBirthDate: '19290805', accessionNumber: 'ACC-PROC-3390' };
const CANARIES = ['ZZPROC', 'ADELHEID', 'MRN-PROC-44120', '19290805', 'ACC-PROC-3390'];
const MIB = 1024 * 1024;

const s3Env = (endpoint: string, bucket: string, prefix: string) => ({
  ...awsEnv(endpoint),
  STORAGE_URL: `s3://${bucket}/${prefix}`,
  S3_FORCE_PATH_STYLE: 'true',
  S3_CHECKSUM_MODE: 'when-required',
  S3_REQUEST_TIMEOUT_SECONDS: '10',
});

describe('process and connection faults: what was acknowledged is stored, a restart or resend completes the study', () => {
  let work: string;
  let bucket: string;
  let studies = 0;
  const everyListener: ListenerProcess[] = [];

  const study = (small: number, large: number) => buildStudy(join(work, `study-${++studies}`), { small, large, largeFrames: 12, common: PHI });
  const openUnder = async (prefix: string) => (await listOpenMultipartUploads(bucket)).filter((u) => u.Key?.startsWith(prefix));

  async function listener(env: Record<string, string>): Promise<ListenerProcess> {
    const l = await startListener(env);
    everyListener.push(l);
    return l;
  }

  beforeAll(async () => {
    work = await makeWorkDir('rel-process-faults-');
    bucket = await createBucket();
  });

  afterAll(async () => {
    for (const l of everyListener) await l.stop().catch(() => undefined);
    await emptyBucket(bucket).catch(() => undefined);
    await removeWorkDir(work);
  });

  test('listener SIGKILLed mid-association: nothing acknowledged is lost; the restarted listener stores the resend', async () => {
    // GIVEN a study on its way, with a multipart upload open
    const first = await listener(s3Env(cephSettings().endpoint, bucket, 'sigkill'));
    const instances = await study(10, 2);
    const prefix = `sigkill/${instances[0]!.studyInstanceUid}/`;
    const sending = storescu('127.0.0.1', first.port, instances.map((i) => i.path), { aec: 'DICOMS3', noHalt: true });
    await pollUntil(() => openUnder(prefix), (u) => u.length > 0, 30_000, 50);
    // WHEN the process is SIGKILLed (no drain, no clean-up) and started again
    await first.kill();
    const attempts = attemptsFrom(instances, (await sending).files);
    await sleep(500); // requests already on the wire reach the gateway
    const killedUploads = new Set((await openUnder(prefix)).map((u) => u.UploadId ?? ''));
    const second = await listener(s3Env(cephSettings().endpoint, bucket, 'sigkill'));
    // THEN acknowledged instances are stored; the killed process's upload is left for the lifecycle rule; the resend completes
    const { figures, violations } = await checkInvariants({
      scenario: 'listener-sigkill-mid-association',
      store: s3View(bucket, 'sigkill'),
      attempts,
      listener: second,
      resend: storescuResend(second.port),
      orphanedBySigkill: killedUploads,
    });
    expect(killedUploads.size).toBeGreaterThan(0);
    expect(figures.orphanedBySigkill).toBe(killedUploads.size);
    expect(figures.unanswered).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
  });

  describe('SIGTERM while three senders are mid-transfer into slow storage (drain timeout 3 s)', () => {
    let proxy: FaultProxy;

    beforeAll(async () => {
      proxy = await startFaultProxy(Number(new URL(cephSettings().endpoint).port));
    });

    afterAll(async () => {
      await proxy?.close();
    });

    test('the process exits 0 within the deadline; what it acknowledged is stored; nothing is left open; a restart takes the resend', async () => {
      // GIVEN S3 paced at 2 MB/s per request and three associations each sending 4 small and one 12 MiB instance
      proxy.setThrottle(2 * MIB);
      const first = await listener({ ...s3Env(proxy.endpoint, bucket, 'drain'), DRAIN_TIMEOUT_SECONDS: '3' });
      const parts = await Promise.all([0, 1, 2].map(() => study(4, 1)));
      const sending = parts.map((p) => storescu('127.0.0.1', first.port, p.map((i) => i.path), { aec: 'DICOMS3', noHalt: true }));
      await pollUntil(() => openUnder('drain/'), (u) => u.length > 0, 30_000, 50);
      // WHEN the pod is told to stop
      const signalled = Date.now();
      process.kill(first.pid, 'SIGTERM');
      const exit = await first.exited;
      const drainMs = Date.now() - signalled;
      const results = await Promise.all(sending);
      const attempts: Attempt[] = parts.flatMap((p, k) => attemptsFrom(p, results[k]!.files));
      proxy.setThrottle(Infinity);
      const second = await listener(s3Env(proxy.endpoint, bucket, 'drain'));
      // THEN exit 0 within drain timeout + clean-up margin, and the invariants hold
      const { figures, violations } = await checkInvariants({
        scenario: 'listener-sigterm-drain-3s',
        store: s3View(bucket, 'drain'),
        attempts,
        listener: second,
        resend: storescuResend(second.port),
        notes: { drainMs, aborted: Number(first.logs.find((l) => l['event'] === 'drained')?.['aborted'] ?? -1) },
      });
      expect(exit).toEqual({ code: 0, signal: null });
      expect(drainMs).toBeLessThan(3_000 + 10_000 + 5_000);
      expect(violations).toEqual([]);
      expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
    });
  });

  test('senders cut mid-P-DATA-TF (FIN and RST, before and during a multipart upload) fail alone; the invariants hold', async () => {
    // GIVEN a listener, a study sent normally by storescu, and three raw senders of other instances of the study
    const l = await listener({ ...s3Env(cephSettings().endpoint, bucket, 'cut'), DICOM_STALL_TIMEOUT_SECONDS: '3' });
    const instances = await study(12, 2);
    const [bigRst, bigFin] = instances.filter((i) => i.path.includes('large-'));
    const smallCut = instances.find((i) => i.path.includes('small-'))!;
    const normal = instances.filter((i) => i !== bigRst && i !== bigFin && i !== smallCut);
    const prefix = `cut/${instances[0]!.studyInstanceUid}/`;

    async function cutMidPdu(i: Sent, sendBytes: number, how: 'rst' | 'fin', waitForUpload: boolean): Promise<void> {
      const bytes = await readFile(i.path);
      const dataSet = bytes.subarray(dataSetOffset(bytes));
      const sopClass = i.path.includes('large-') ? SopClass.MultiFrameGrayscaleByteSC : SopClass.SecondaryCapture;
      const scu = await RawScu.connect(l.port);
      const assoc = await scu.associate({ calling: 'CUTTER', contexts: [{ id: 1, abstractSyntax: sopClass, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }] });
      expect(assoc.accepted).toBe(true);
      scu.sendPartialInstance({ contextId: 1, sopClassUid: sopClass, sopInstanceUid: i.sopInstanceUid, dataSet, bytes: sendBytes });
      if (waitForUpload) await pollUntil(async () => (await openUnder(prefix)).filter((u) => u.Key?.includes(i.sopInstanceUid)), (u) => u.length > 0, 20_000, 50);
      // Half a P-DATA-TF: the header promises 16 006 bytes, half of them follow, then the connection goes.
      const next = pdata(1, false, false, dataSet.subarray(sendBytes, sendBytes + 16_000));
      scu.send(next.subarray(0, next.length >> 1));
      await sleep(100);
      if (how === 'rst') scu.socket.resetAndDestroy();
      else scu.socket.end();
      await scu.closed;
    }

    // WHEN the raw senders' connections are cut mid-PDU while storescu sends the rest
    const sending = storescu('127.0.0.1', l.port, normal.map((i) => i.path), { aec: 'DICOMS3', noHalt: true });
    await Promise.all([
      cutMidPdu(bigRst!, 8 * MIB, 'rst', true),
      cutMidPdu(bigFin!, 7 * MIB, 'fin', true),
      cutMidPdu(smallCut, 4_000, 'rst', false),
    ]);
    const normalAttempts = attemptsFrom(normal, (await sending).files);
    const attempts: Attempt[] = [...normalAttempts, ...[bigRst!, bigFin!, smallCut].map((instance) => ({ instance, status: null }))];
    // THEN the normal sender is unaffected, and the invariants hold
    const { figures, violations } = await checkInvariants({ scenario: 'sender-cut-mid-pdu', store: s3View(bucket, 'cut'), attempts, listener: l, resend: storescuResend(l.port) });
    expect(normalAttempts.map((a) => a.status)).toEqual(normal.map(() => 0));
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, storedUnacknowledged: 0, orphanedUploads: 0, complete: true });
    // AND each cut association was summarised as ended without a release, with no instance counted stored
    const cut = l.logs.filter((x) => x['event'] === 'association' && x['callingAe'] === 'CUTTER');
    expect(cut.map((x) => [x['outcome'] === 'released', x['instances'] === x['failures']])).toEqual([[false, true], [false, true], [false, true]]);
  });

  test('an A-ABORT from the sender mid-instance fails that instance alone, and the listener lives on', async () => {
    // GIVEN a 12 MiB instance half-way through its multipart upload
    const l = await listener(s3Env(cephSettings().endpoint, bucket, 'abort'));
    const [instance] = await study(0, 1);
    const bytes = await readFile(instance!.path);
    const scu = await RawScu.connect(l.port);
    await scu.associate({ contexts: [{ id: 1, abstractSyntax: SopClass.MultiFrameGrayscaleByteSC, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }] });
    scu.sendPartialInstance({ contextId: 1, sopClassUid: SopClass.MultiFrameGrayscaleByteSC, sopInstanceUid: instance!.sopInstanceUid, dataSet: bytes.subarray(dataSetOffset(bytes)), bytes: 7 * MIB });
    await pollUntil(() => openUnder(`abort/`), (u) => u.length > 0, 20_000, 50);
    // WHEN the sender sends A-ABORT
    scu.send(Buffer.from([PduType.Abort, 0, 0, 0, 0, 4, 0, 0, 0, 0]));
    await scu.closed;
    // THEN nothing is stored or left open, and the resend stores it
    const { figures, violations } = await checkInvariants({ scenario: 'sender-a-abort-mid-instance', store: s3View(bucket, 'abort'), attempts: [{ instance: instance!, status: null }], listener: l, resend: storescuResend(l.port) });
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, storedUnacknowledged: 0, orphanedUploads: 0, complete: true });
  });

  test('no patient data in anything the listeners logged during these faults', () => {
    // GIVEN the studies above carried PHI canaries, WHEN the listeners' output is scanned, THEN none is found
    const text = everyListener.map((l) => l.stdoutLines.join('\n') + l.stderr()).join('\n');
    expect(text.length).toBeGreaterThan(1000);
    for (const canary of CANARIES) expect(text.includes(canary), canary).toBe(false);
  });
});
