// The one invariant checker every fault scenario ends with, and the figures it reports.
//
// After a scenario, with the fault gone:
//  1. no upload is left open: S3 multipart uploads (or `.partial` files of the folder store)
//     drain to none, allowing the listener's background abort retries (~32 s) to finish;
//     uploads orphaned by a SIGKILLed process are named up front and reported apart;
//  2. every instance answered Success is in storage, its data set byte-identical to the
//     file that was sent; no stored object differs from what was sent (nothing half-written);
//  3. the listener is healthy: /healthz 200 and a C-ECHO succeeds;
//  4. resending every instance not answered Success succeeds, and then the whole study is
//     in storage, byte for byte.
// The figures (sent, acknowledged, failed-as-reported, stored, lost, orphaned uploads) go to
// the test output and, when RELIABILITY_FIGURES_FILE is set, to that file as JSON lines
// (scripts/reliability-long.sh turns them into the table in docs/reliability.md).
import { appendFileSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { echoscu, storescu, type StoreFileResult } from '../support/dcmtk.ts';
import { dataSetOffset, newUid, readDataSet, TransferSyntax, writeInstance, writeLargeInstance, type InstanceInfo, type InstanceOptions } from '../support/dicom-file.ts';
import { pollUntil } from '../support/proc.ts';
import { getObjectBytes, listOpenMultipartUploads, s3Client } from '../support/s3.ts';

/** What a scenario sent: enough to name the object and compare bytes. */
export type Sent = Pick<InstanceInfo, 'path' | 'sopInstanceUid' | 'studyInstanceUid' | 'seriesInstanceUid' | 'transferSyntaxUid'>;

/** The last answer the sender got for one instance: a DIMSE status, or null (never answered). */
export interface Attempt {
  instance: Sent;
  status: number | null;
}

export interface OpenUpload {
  id: string;
  key: string;
}

/** Storage as the checker sees it, read directly (never through the fault being injected). */
export interface StoreView {
  readonly description: string;
  keyFor(instance: Sent): string;
  read(key: string): Promise<Buffer | undefined>;
  openUploads(): Promise<OpenUpload[]>;
  /** What the bucket lifecycle rule does to an upload orphaned by a killed process. */
  reclaim?(upload: OpenUpload): Promise<void>;
}

export interface Figures {
  scenario: string;
  sent: number;
  acknowledged: number;
  failedAsReported: number;
  /** Never answered: the connection died first, or the sender never got to it. */
  unanswered: number;
  /** In storage and byte-identical after the fault, before any resend. */
  stored: number;
  /** Stored although not answered Success (e.g. the answer was lost): harmless, the resend overwrites it. */
  storedUnacknowledged: number;
  /** Answered Success but missing or different in storage: must be 0. */
  lost: number;
  /** Objects in storage that differ from what was sent: must be 0. */
  corrupt: number;
  /** Uploads still open once settled, not counting those orphaned by SIGKILL: must be 0. */
  orphanedUploads: number;
  /** Uploads orphaned by a SIGKILLed listener: left for the bucket lifecycle rule. */
  orphanedBySigkill: number;
  resent: number;
  /** Every instance in storage, byte for byte, after the resend. */
  complete: boolean;
  /** Extra scenario-specific figures (faults injected, durations, ...). */
  notes?: Record<string, number | string>;
}

export interface CheckResult {
  figures: Figures;
  /** Human-readable invariant violations; empty when the scenario held. */
  violations: string[];
}

/** Keys as the default template lays them out: {prefix}/{Study}/{Series}/{SOP}.dcm. */
export function defaultKey(prefix: string, i: Sent): string {
  return `${prefix ? `${prefix}/` : ''}${i.studyInstanceUid}/${i.seriesInstanceUid}/${i.sopInstanceUid}.dcm`;
}

export function s3View(bucket: string, prefix: string, client: S3Client = s3Client()): StoreView {
  return {
    description: `s3://${bucket}/${prefix}`,
    keyFor: (i) => defaultKey(prefix, i),
    async read(key) {
      try {
        return await getObjectBytes(bucket, key, client);
      } catch (e) {
        if ((e as Error).name === 'NoSuchKey' || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
        throw e;
      }
    },
    async openUploads() {
      return (await listOpenMultipartUploads(bucket, client)).map((u) => ({ id: u.UploadId ?? '', key: u.Key ?? '' }));
    },
    async reclaim(upload) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.key, UploadId: upload.id }));
    },
  };
}

/** The folder store; `root` may be a /proc/<pid>/root/... path into another mount namespace. */
export function fileView(root: string): StoreView {
  return {
    description: `file://${root}`,
    keyFor: (i) => defaultKey('', i),
    async read(key) {
      try {
        return await readFile(join(root, key));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async openUploads() {
      const names = await readdir(root, { recursive: true }).catch(() => [] as string[]);
      return names.map(String).filter((n) => n.endsWith('.partial')).map((n) => ({ id: n, key: relative(root, join(root, n)) }));
    },
  };
}

/** Data set of a stored Part 10 object, inflated when deflated (senders re-deflate non-canonically). */
function dataSetOf(object: Buffer, transferSyntaxUid: string): Buffer {
  const ds = object.subarray(dataSetOffset(object));
  return transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian ? inflateRawSync(ds) : ds;
}

async function sentDataSet(i: Sent): Promise<Buffer> {
  const ds = await readDataSet(i.path);
  return i.transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian ? inflateRawSync(ds) : ds;
}

type Stored = 'identical' | 'different' | 'missing';

async function storedState(store: StoreView, i: Sent): Promise<Stored> {
  const object = await store.read(store.keyFor(i));
  if (!object) return 'missing';
  try {
    return dataSetOf(object, i.transferSyntaxUid).equals(await sentDataSet(i)) ? 'identical' : 'different';
  } catch {
    return 'different';
  }
}

/** Maps with at most `limit` calls in flight, keeping the order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}


export interface HealthTarget {
  port: number;
  opsPort: number;
}

/** /healthz answers 200 and a C-ECHO succeeds. */
export async function isHealthy(listener: HealthTarget, aec = 'DICOMS3'): Promise<boolean> {
  const health = await fetch(`http://127.0.0.1:${listener.opsPort}/healthz`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.status, () => 0);
  if (health !== 200) return false;
  return (await echoscu('127.0.0.1', listener.port, { aec, timeoutMs: 20_000 })).ok;
}

/** Attempts from a storescu run: its per-file status for each instance. */
export function attemptsFrom(instances: Sent[], files: StoreFileResult[]): Attempt[] {
  const byPath = new Map(files.map((f) => [f.file, f]));
  return instances.map((instance) => ({ instance, status: byPath.get(instance.path)?.status ?? null }));
}

/** The usual resend: one storescu association, continuing past failures. */
export function storescuResend(port: number, aec = 'DICOMS3'): (instances: Sent[]) => Promise<Attempt[]> {
  return async (instances) => {
    if (instances.length === 0) return [];
    const result = await storescu('127.0.0.1', port, instances.map((i) => i.path), { aec, noHalt: true });
    return attemptsFrom(instances, result.files);
  };
}

export interface CheckOptions {
  scenario: string;
  store: StoreView;
  /** The last answer each sent instance got during the scenario (one entry per instance). */
  attempts: Attempt[];
  /** The listener as it runs once the fault is gone (restarted, if the scenario killed it). */
  listener: HealthTarget;
  aec?: string;
  resend: (instances: Sent[]) => Promise<Attempt[]>;
  /** Upload IDs open when a listener was SIGKILLed: reported as orphaned-by-SIGKILL and reclaimed as the lifecycle rule would. */
  orphanedBySigkill?: Set<string>;
  /** How long open uploads may take to be aborted in the background; default 40 s. */
  settleMs?: number;
  notes?: Record<string, number | string>;
}

/** Runs the four invariants and returns the figures and every violation found. */
export async function checkInvariants(o: CheckOptions): Promise<CheckResult> {
  const violations: string[] = [];
  const killed = o.orphanedBySigkill ?? new Set<string>();
  const settleMs = o.settleMs ?? 40_000;
  const t0 = Date.now();
  const phases: Record<string, number> = {};
  const mark = (name: string) => {
    phases[name] = Number(((Date.now() - t0) / 1000).toFixed(1));
  };

  // 1. Open uploads drain (the listener retries aborts in the background for ~32 s).
  const remaining = await pollUntil(
    async () => (await o.store.openUploads()).filter((u) => !killed.has(u.id)),
    (open) => open.length === 0,
    settleMs,
    500,
  );
  for (const u of remaining) violations.push(`upload left open: ${u.key} (${u.id})`);
  const killedOpen = (await o.store.openUploads()).filter((u) => killed.has(u.id));
  for (const u of killedOpen) await o.store.reclaim?.(u);
  mark('settled');

  // 2. Acknowledged means stored, byte for byte; nothing stored differs from what was sent.
  let stored = 0;
  let storedUnacknowledged = 0;
  let lost = 0;
  let corrupt = 0;
  const states = await mapLimit(o.attempts, 16, (a) => storedState(o.store, a.instance));
  o.attempts.forEach((a, k) => {
    const state = states[k]!;
    if (state === 'identical') stored += 1;
    if (state === 'identical' && a.status !== 0) storedUnacknowledged += 1;
    if (state === 'different') {
      corrupt += 1;
      violations.push(`stored object differs from the sent data set: ${o.store.keyFor(a.instance)} (status ${a.status})`);
    }
    if (a.status === 0 && state !== 'identical') {
      lost += 1;
      violations.push(`acknowledged but ${state}: ${o.store.keyFor(a.instance)}`);
    }
  });
  mark('compared');
  // 3. Healthy again.
  if (!(await isHealthy(o.listener, o.aec))) violations.push('listener not healthy after the fault (/healthz or C-ECHO failed)');

  // 4. Resending what was not acknowledged completes the study.
  const toResend = o.attempts.filter((a) => a.status !== 0).map((a) => a.instance);
  mark('healthy');
  const resent = await o.resend(toResend);
  mark('resent');
  for (const r of resent) if (r.status !== 0) violations.push(`resend of ${r.instance.sopInstanceUid} answered ${r.status === null ? 'nothing' : `0x${r.status.toString(16)}`}`);
  let complete = true;
  const finalStates = await mapLimit(o.attempts, 16, (a) => storedState(o.store, a.instance));
  o.attempts.forEach((a, k) => {
    if (finalStates[k] !== 'identical') {
      complete = false;
      violations.push(`after the resend, ${o.store.keyFor(a.instance)} is ${finalStates[k]}`);
    }
  });
  const afterResend = await pollUntil(
    async () => (await o.store.openUploads()).filter((u) => !killed.has(u.id)),
    (open) => open.length === 0,
    settleMs,
    500,
  );
  for (const u of afterResend) if (!remaining.some((r) => r.id === u.id)) violations.push(`upload left open after the resend: ${u.key}`);
  mark('done');
  if (process.env.RELIABILITY_DEBUG) console.log(`[reliability] ${o.scenario} check phases (s): ${JSON.stringify(phases)}`);

  const figures: Figures = {
    scenario: o.scenario,
    sent: o.attempts.length,
    acknowledged: o.attempts.filter((a) => a.status === 0).length,
    failedAsReported: o.attempts.filter((a) => a.status !== null && a.status !== 0).length,
    unanswered: o.attempts.filter((a) => a.status === null).length,
    stored,
    storedUnacknowledged,
    lost,
    corrupt,
    orphanedUploads: remaining.length,
    orphanedBySigkill: killedOpen.length,
    resent: toResend.length,
    complete,
    ...(o.notes ? { notes: o.notes } : {}),
  };
  recordFigures(figures);
  return { figures, violations };
}

/** Prints one scenario's figures and appends them to RELIABILITY_FIGURES_FILE when set. */
export function recordFigures(figures: object): void {
  const line = JSON.stringify({ at: new Date().toISOString(), ...figures });
  console.log(`[reliability] ${line}`);
  const file = process.env.RELIABILITY_FIGURES_FILE;
  if (file) appendFileSync(file, `${line}\n`);
}

export interface StudyOptions {
  /** Small single-frame instances (128x128, 8-bit: about 17 KB each). */
  small: number;
  /** Multi-frame instances of `largeFrames` MiB each: multipart uploads at the default 5 MiB part size. */
  large?: number;
  largeFrames?: number;
  /** Patient data canaries etc. for every instance. */
  common?: Omit<InstanceOptions, 'studyInstanceUid' | 'seriesInstanceUid' | 'sopInstanceUid'>;
}

/**
 * One study on disk: the small instances in one series and the large ones in another, in
 * sending order with the large ones spread through the small ones (so a fault that strikes
 * a multipart upload finds acknowledged instances before it and unsent ones after it).
 */
export async function buildStudy(dir: string, o: StudyOptions): Promise<Sent[]> {
  await mkdir(dir, { recursive: true });
  const studyInstanceUid = newUid();
  const smallSeries = newUid();
  const largeSeries = newUid();
  const small: Sent[] = [];
  for (let i = 0; i < o.small; i++) {
    small.push(await writeInstance(join(dir, `small-${String(i + 1).padStart(3, '0')}.dcm`), {
      ...o.common, studyInstanceUid, seriesInstanceUid: smallSeries, rows: 128, columns: 128, instanceNumber: i + 1, seed: i + 1,
    }));
  }
  const large: Sent[] = [];
  for (let i = 0; i < (o.large ?? 0); i++) {
    large.push(await writeLargeInstance(join(dir, `large-${i + 1}.dcm`), {
      ...o.common, studyInstanceUid, seriesInstanceUid: largeSeries, numberOfFrames: o.largeFrames ?? 12, instanceNumber: i + 1, seed: 100 + i,
    }));
  }
  // Spread the large ones evenly, none first.
  const out = [...small];
  large.forEach((l, i) => out.splice(Math.min(out.length, Math.round(((i + 1) * (small.length + i + 1)) / (large.length + 1))), 0, l));
  return out;
}
