// Load on loopback, bounded in count and time: 210 associations sending at once (200 raw
// SCUs in this process and 10 storescu processes) against a listener capped at 150, and
// slow senders (slowloris) that must be timed out while a normal sender is served.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { storescu, type StoreResult } from '../support/dcmtk.ts';
import { dataSetOffset, SopClass, TransferSyntax } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { associateRq, pdata, RawScu } from '../support/raw-scu.ts';
import { awsEnv, createBucket, emptyBucket } from '../support/s3.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';
import { attemptsFrom, buildStudy, checkInvariants, recordFigures, s3View, sleep, storescuResend, type Attempt, type Sent } from './harness.ts';

const MIB = 1024 * 1024;
const RSS_LIMIT = 250 * MIB;
// 150 concurrent stores: the idle process is ~135 MiB and each concurrent store adds ~0.6 MiB (measured).
const LOAD_RSS_LIMIT = 320 * MIB;
const MAX_ASSOCIATIONS = 150;
const RAW = 200;
const STORESCU = 10;
const SC_CONTEXT = [{ id: 1, abstractSyntax: SopClass.SecondaryCapture, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }];

const s3Env = (bucket: string, prefix: string) => ({
  ...awsEnv(),
  STORAGE_URL: `s3://${bucket}/${prefix}`,
  S3_FORCE_PATH_STYLE: 'true',
  S3_CHECKSUM_MODE: 'when-required',
});

type Fate = 'served' | 'rejected-transient-local-limit' | 'other';

describe('load: 210 associations at once against a cap of 150', () => {
  let work: string;
  let bucket: string;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('rel-load-');
    bucket = await createBucket();
    listener = await startListener({ ...s3Env(bucket, 'load'), DICOM_MAX_ASSOCIATIONS: String(MAX_ASSOCIATIONS) });
  });

  afterAll(async () => {
    await listener?.stop().catch(() => undefined);
    await emptyBucket(bucket).catch(() => undefined);
    await removeWorkDir(work);
  });

  test('each is served or cleanly rejected (transient, local limit exceeded); memory stays bounded; nothing acknowledged is lost', async () => {
    // GIVEN one study: 2 instances for each raw SCU and 3 for each storescu process
    const study = await buildStudy(join(work, 'study'), { small: RAW * 2 + STORESCU * 3 });
    const rawShare = (k: number) => study.slice(2 * k, 2 * k + 2);
    const dcmtkShare = (k: number) => study.slice(RAW * 2 + 3 * k, RAW * 2 + 3 * k + 3);
    const dataSets = new Map<Sent, Buffer>();
    for (const s of study.slice(0, RAW * 2)) {
      const bytes = await readFile(s.path);
      dataSets.set(s, bytes.subarray(dataSetOffset(bytes)));
    }
    const attempts = new Map<Sent, number | null>(study.map((s) => [s, null]));
    const started = Date.now();

    // WHEN 200 raw SCUs ask for an association at the same moment, and 10 storescu processes start with them
    const storescuRuns: Promise<StoreResult>[] = Array.from({ length: STORESCU }, (_, k) =>
      storescu('127.0.0.1', listener.port, dcmtkShare(k).map((s) => s.path), { aec: 'DICOMS3', aet: `LOADDCMTK${k}`, noHalt: true, timeoutMs: 90_000 }));
    const scus = await Promise.all(Array.from({ length: RAW }, () => RawScu.connect(listener.port)));
    const answers = await Promise.all(scus.map((scu, k) => scu.associate({ calling: `LOADRAW${k}`, contexts: SC_CONTEXT }).catch(() => undefined)));
    // (All 200 answers are in before any raw SCU stores or releases: they really were concurrent.)
    const rawFates: Fate[] = await Promise.all(scus.map(async (scu, k) => {
      const a = answers[k];
      if (!a?.accepted) {
        scu.destroy();
        const r = a?.reject;
        return r && r.result === 2 && r.source === 3 && r.reason === 2 ? 'rejected-transient-local-limit' : 'other';
      }
      for (const s of rawShare(k)) {
        const response = await scu.cStore({ contextId: 1, sopClassUid: SopClass.SecondaryCapture, sopInstanceUid: s.sopInstanceUid, dataSet: dataSets.get(s)! }).catch(() => undefined);
        attempts.set(s, response?.status ?? null);
      }
      const released = await scu.release();
      return released && rawShare(k).every((s) => attempts.get(s) === 0) ? 'served' : 'other';
    }));
    const dcmtkResults = await Promise.all(storescuRuns);
    const dcmtkFates: Fate[] = dcmtkResults.map((r, k) => {
      for (const a of attemptsFrom(dcmtkShare(k), r.files)) attempts.set(a.instance, a.status);
      if (r.allSucceeded) return 'served';
      const out = r.stdout + r.stderr;
      return /Association Rejected/.test(out) && /Rejected Transient/.test(out) && /Local Limit Exceeded/.test(out) ? 'rejected-transient-local-limit' : 'other';
    });
    const seconds = (Date.now() - started) / 1000;
    const fates = [...rawFates, ...dcmtkFates];
    const count = (f: Fate) => fates.filter((x) => x === f).length;

    // THEN every association was served or cleanly rejected, memory stayed bounded, and the invariants hold
    const all: Attempt[] = study.map((instance) => ({ instance, status: attempts.get(instance) ?? null }));
    const { figures, violations } = await checkInvariants({
      scenario: 'load-210-associations-cap-150',
      store: s3View(bucket, 'load'),
      attempts: all,
      listener,
      resend: storescuResend(listener.port),
      notes: { served: count('served'), rejected: count('rejected-transient-local-limit'), other: count('other'), seconds: Number(seconds.toFixed(1)), peakRssMb: Math.round(listener.peakRssBytes() / MIB) },
    });
    expect(count('other')).toBe(0);
    expect(count('served')).toBeGreaterThanOrEqual(100);
    expect(count('rejected-transient-local-limit')).toBeGreaterThanOrEqual(RAW - MAX_ASSOCIATIONS);
    expect(listener.peakRssBytes()).toBeLessThan(LOAD_RSS_LIMIT);
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
  });
});

describe('slowloris: slow senders are timed out without starving others', () => {
  let work: string;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('rel-slowloris-');
    listener = await startListener({
      STORAGE_URL: `file://${join(work, 'store')}`,
      // 3 s: long enough for the normal sender to finish while every slow connection is still open, even on a busy runner.
      DICOM_ARTIM_TIMEOUT_SECONDS: '3',
      DICOM_IDLE_TIMEOUT_SECONDS: '3',
      DICOM_STALL_TIMEOUT_SECONDS: '3',
    });
  });

  afterAll(async () => {
    await listener?.stop().catch(() => undefined);
    await removeWorkDir(work);
  });

  test('100 connections that go silent (before, during and after association, mid-PDU and mid-instance) are all closed by ARTIM/idle/stall timeouts while a normal sender is served', async () => {
    // GIVEN 100 slow connections: 40 silent after connecting, 30 stopping half-way through their A-ASSOCIATE-RQ,
    // 15 associated and stopping half-way through a P-DATA-TF, 15 stopping mid-instance
    const [instance] = await buildStudy(join(work, 'slow'), { small: 1 });
    const bytes = await readFile(instance!.path);
    const dataSet = bytes.subarray(dataSetOffset(bytes));
    const rq = associateRq({ calling: 'SLOWLORIS', contexts: SC_CONTEXT });
    const kinds = [...Array(40).fill('silent'), ...Array(30).fill('half-rq'), ...Array(15).fill('half-pdata'), ...Array(15).fill('mid-instance')] as ('silent' | 'half-rq' | 'half-pdata' | 'mid-instance')[];
    const started = Date.now();
    const slow = await Promise.all(kinds.map(async (kind) => {
      const scu = await RawScu.connect(listener.port);
      if (kind === 'half-rq') scu.send(rq.subarray(0, rq.length >> 1));
      if (kind === 'half-pdata' || kind === 'mid-instance') {
        await scu.associate({ calling: 'SLOWLORIS', contexts: SC_CONTEXT });
        if (kind === 'half-pdata') {
          const p = pdata(1, false, false, dataSet);
          scu.send(p.subarray(0, p.length >> 1));
        } else {
          scu.sendPartialInstance({ contextId: 1, sopClassUid: SopClass.SecondaryCapture, sopInstanceUid: instance!.sopInstanceUid, dataSet, bytes: 8_000 });
        }
      }
      const closedAt = scu.closed.then(() => Date.now() - started);
      return { kind, scu, closedAt };
    }));
    // WHEN a normal sender sends a study during the attack
    const study = await buildStudy(join(work, 'normal'), { small: 5 });
    const normal = await storescu('127.0.0.1', listener.port, study.map((s) => s.path), { aec: 'DICOMS3', timeoutMs: 30_000 });
    const normalDoneMs = Date.now() - started;
    const stillOpenWhenNormalDone = slow.filter((s) => !s.scu.isClosed).length;
    // THEN it is served while the slow ones are still open, and every slow one is closed within timeout + 3 s
    const closedAfter = await Promise.all(slow.map((s) => Promise.race([s.closedAt, sleep(10_000).then(() => Number.POSITIVE_INFINITY)])));
    for (const s of slow) s.scu.destroy();
    const violations: Record<string, number> = {};
    for (const l of listener.logs.filter((x) => x['event'] === 'association-violation')) violations[String(l['violation'])] = (violations[String(l['violation'])] ?? 0) + 1;
    recordFigures({ scenario: 'slowloris-100', normalDoneMs, stillOpenWhenNormalDone, slowestCloseMs: Math.max(...closedAfter), violations, peakRssMb: Math.round(listener.peakRssBytes() / MIB) });
    expect(normal.files.map((f) => f.status)).toEqual(study.map(() => 0));
    expect(stillOpenWhenNormalDone).toBeGreaterThan(90);
    expect(Math.max(...closedAfter)).toBeLessThan(6_000);
    expect(violations).toEqual({ 'artim-timeout': 70, 'idle-timeout': 15, 'stall-timeout': 15 });
    expect(listener.peakRssBytes()).toBeLessThan(RSS_LIMIT);
  });
});

describe('a connection flood beyond the association cap + 64 connections', () => {
  test('every connection is answered (A-ASSOCIATE-AC, or -RJ transient local-limit) or closed at once; none hangs; the process stays healthy', async () => {
    // GIVEN a listener capped at 2 associations, so at 66 TCP connections
    const work = await makeWorkDir('rel-flood-');
    const listener = await startListener({ STORAGE_URL: `file://${join(work, 'store')}`, DICOM_MAX_ASSOCIATIONS: '2' });
    try {
      // WHEN 120 connections arrive at once, each sending an A-ASSOCIATE-RQ
      const started = Date.now();
      const fates = await Promise.all(Array.from({ length: 120 }, async () => {
        const scu = await RawScu.connect(listener.port).catch(() => undefined);
        if (!scu) return 'refused';
        const answer = await scu.associate({ calling: 'FLOOD', contexts: SC_CONTEXT }).catch(() => undefined);
        const fate = answer?.accepted ? 'accepted' : answer?.reject ? `rejected-${answer.reject.result}-${answer.reject.source}-${answer.reject.reason}` : scu.isClosed ? 'closed' : 'no-answer';
        await sleep(500); // hold what was granted while the others arrive
        scu.destroy();
        return fate;
      }));
      const ms = Date.now() - started;
      const count: Record<string, number> = {};
      for (const f of fates) count[f] = (count[f] ?? 0) + 1;
      recordFigures({ scenario: 'connection-flood-120-cap-2', ms, ...count });
      // THEN 2 were accepted and every other one rejected transient/local-limit (or, beyond 66 open connections,
      // closed without a PDU), all in well under the ARTIM timeout
      expect(Object.keys(count).filter((k) => !['accepted', 'rejected-2-3-2', 'closed'].includes(k))).toEqual([]);
      expect(count['accepted']).toBe(2);
      expect((count['rejected-2-3-2'] ?? 0) + (count['closed'] ?? 0)).toBe(118);
      expect(ms).toBeLessThan(10_000);
      expect(await fetch(`http://127.0.0.1:${listener.opsPort}/healthz`).then((r) => r.status)).toBe(200);
    } finally {
      await listener.stop();
      await removeWorkDir(work);
    }
  });
});
