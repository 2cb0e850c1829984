// One measured run of one contender on one workload: start a fresh receiver,
// warm it up, measure, verify every instance is stored, clean up. Used by
// bench/main.ts (the full benchmark) and bench/ab.ts (two listener builds
// side by side).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { S3Client } from '@aws-sdk/client-s3';
import { recordedPids } from '../../test/support/ceph.ts';
import type { CephSettings } from '../../test/support/context.ts';
import { readMeta } from '../../test/support/dicom-file.ts';
import { startStorescp } from '../../test/support/dcmtk.ts';
import { productionCommand, REPO_ROOT, startListener, type ListenerProcess } from '../../test/support/listener-process.ts';
import { run, stopPid } from '../../test/support/proc.ts';
import { awsEnv, emptyBucket, listKeys } from '../../test/support/s3.ts';
import type { Corpus, CorpusFile, FileSet, SetName } from './corpus.ts';
import { ProcMeter, type MeterReading } from './proc-meter.ts';
import { quantile } from './stats.ts';
import { sendLanes, type SendResult } from './storescu-lanes.ts';
import type { CeilingJob, CeilingObject, CeilingResult } from '../s3-ceiling.ts';
import type { ContenderId, RunRecord, WorkloadInfo } from './types.ts';

export const MIB = 1024 * 1024;
/** The listener's defaults, used for the ceiling too. */
export const PART_SIZE_MIB = 5;
export const QUEUE_SIZE = 2;
/** The listener's default DICOM_MAX_PDU_LENGTH; storescp is given the same, so both receive identical PDUs. */
export const MAX_PDU = 131072;
export const CALLED_AE = 'DICOMS3';

export interface Workload extends WorkloadInfo {
  set: SetName;
  timeoutMs: number;
}

export interface Env {
  work: string;
  corpus: Corpus;
  ceph: CephSettings;
  bucket: string;
  s3: S3Client;
  logConfig: string;
  nodeArgs: (tag: string) => string[];
  log: (line: string) => void;
  /** Another listener build for every listener run (what-if runs); default dist/listener/main.js. */
  listenerEntry?: string;
  /** Extra node flags for every listener run. */
  listenerNodeArgs?: string[];
}

/** Another build of the listener (bench/ab.ts): its entry point, and a name for the record. */
export interface Variant {
  name: string;
  entry: string;
  /** Extra node flags for this build only (e.g. a V8 heap setting under test). */
  nodeArgs?: string[];
  /** Extra environment for this build only (e.g. a glibc malloc setting under test). */
  env?: Record<string, string>;
}

let sequence = 0;

export function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function countFiles(dir: string): { files: number; partial: number; sample: string | undefined } {
  let files = 0;
  let partial = 0;
  let sample: string | undefined;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.partial')) partial++;
      else {
        files++;
        sample ??= p;
      }
    }
  };
  walk(dir);
  return { files, partial, sample };
}

async function listCount(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  return (await listKeys(bucket, prefix, s3)).length;
}

function storagePids(ceph: CephSettings): number[] {
  return recordedPids(ceph.cephDir).filter((p) => p.name === 'osd' || p.name.startsWith('rgw.')).map((p) => p.pid);
}

function cpuOf(meters: ProcMeter[]): number {
  return meters.map((m) => m.stop().cpuSeconds).reduce((a, b) => a + b, 0);
}

interface Measured {
  send: { instances: number; bytes: number; startMs: number; endMs: number; latenciesMs: number[] };
  reading: MeterReading;
  storageCpuSeconds: number | undefined;
}

/** A DICOM receiver: listener (file or S3) or storescp. */
async function runDicom(env: Env, w: Workload, contender: ContenderId, runId: string, set: FileSet, variant: Variant | undefined): Promise<Measured> {
  const outDir = join(env.work, 'out', runId);
  mkdirSync(outDir, { recursive: true });
  let pid: number;
  let port: number;
  let stop: () => Promise<unknown>;
  let listener: ListenerProcess | undefined;
  const isS3 = contender === 'listener-s3';
  const prefix = `runs/${runId}`;
  if (contender === 'listener-file' || contender === 'listener-s3') {
    const storageEnv: Record<string, string> = isS3
      ? {
          ...awsEnv(env.ceph.endpoint, env.ceph),
          STORAGE_URL: `s3://${env.bucket}/${prefix}`,
          S3_FORCE_PATH_STYLE: 'true',
          S3_CHECKSUM_MODE: 'when-required',
          S3_PART_SIZE_MIB: String(PART_SIZE_MIB),
          S3_QUEUE_SIZE: String(QUEUE_SIZE),
        }
      : { STORAGE_URL: `file://${outDir}` };
    listener = await startListener({ ...storageEnv, ...variant?.env }, {
      entry: variant?.entry ?? env.listenerEntry ?? 'dist/listener/main.js',
      // Production's flags first: V8 takes the last value of a flag, so a variant can override one.
      nodeArgs: [
        ...env.nodeArgs(`${w.id}-${contender}${variant ? `-${variant.name}` : ''}`),
        ...productionCommand().nodeArgs,
        ...(env.listenerNodeArgs ?? []),
        ...(variant?.nodeArgs ?? []),
      ],
    });
    pid = listener.pid;
    port = listener.port;
    stop = () => listener!.stop('SIGTERM', 60_000);
  } else {
    const scp = await startStorescp(0, outDir, {
      aet: CALLED_AE,
      bitPreserving: contender === 'storescp-B',
      // -q undoes the wrapper's -v: storescp logs nothing per instance, like the listener at LOG_LEVEL=info.
      extraArgs: ['-q', '--max-pdu', String(MAX_PDU), ...(contender === 'storescp-fork' ? ['--fork'] : [])],
    });
    pid = scp.pid;
    port = scp.port;
    stop = () => scp.stop();
  }
  try {
    const warm = await sendLanes({ port, calledAe: CALLED_AE, files: [set.warmup], lanes: 1, logConfig: env.logConfig, timeoutMs: 60_000 });
    if (warm.failures.length) throw new Error(`warm-up failed: ${warm.failures.join('; ')}`);
    const meter = new ProcMeter(pid, { trackChildren: contender === 'storescp-fork' });
    const storageMeters = isS3 ? storagePids(env.ceph).map((p) => new ProcMeter(p)) : [];
    meter.start();
    for (const m of storageMeters) m.start();
    const send: SendResult = await sendLanes({ port, calledAe: CALLED_AE, files: set.files, lanes: w.lanes, logConfig: env.logConfig, timeoutMs: w.timeoutMs });
    const reading = meter.stop();
    const storageCpuSeconds = isS3 ? cpuOf(storageMeters) : undefined;
    if (send.failures.length) throw new Error(`${send.failures.length} failures: ${send.failures.slice(0, 3).join('; ')}`);
    // Every instance must really be stored (+1 for the warm-up).
    const expected = set.files.length + 1;
    if (isS3) {
      const n = await listCount(env.s3, env.bucket, prefix);
      if (n !== expected) throw new Error(`S3 holds ${n} objects, expected ${expected}`);
    } else {
      const c = countFiles(outDir);
      if (c.files !== expected || c.partial) throw new Error(`${outDir} holds ${c.files} files (+${c.partial} partial), expected ${expected}`);
      const ts = (await readMeta(c.sample!)).transferSyntaxUid;
      if (ts !== set.files[0]!.transferSyntaxUid) throw new Error(`stored in ${ts}, sent ${set.files[0]!.transferSyntaxUid}: the receiver did not keep the sender's transfer syntax`);
    }
    return { send, reading, storageCpuSeconds };
  } finally {
    await stop();
    rmSync(outDir, { recursive: true, force: true });
    if (isS3) await emptyBucket(env.bucket, env.s3);
  }
}

function keyFor(prefix: string, f: CorpusFile): string {
  return `${prefix}/${f.studyInstanceUid}/${f.seriesInstanceUid}/${f.sopInstanceUid}.dcm`;
}

/** The ceiling: bench/s3-ceiling.ts in its own process. */
async function runCeiling(env: Env, w: Workload, runId: string, set: FileSet): Promise<Measured> {
  const prefix = `runs/${runId}`;
  const obj = (f: CorpusFile): CeilingObject => ({ path: f.path, key: keyFor(prefix, f), bytes: f.bytes });
  const lanes: CeilingObject[][] = Array.from({ length: w.lanes }, () => []);
  set.files.forEach((f, i) => lanes[i % w.lanes]!.push(obj(f)));
  const job: CeilingJob = { settings: env.ceph, bucket: env.bucket, partSizeBytes: PART_SIZE_MIB * MIB, queueSize: QUEUE_SIZE, warmup: obj(set.warmup), lanes };
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [...env.nodeArgs(`${w.id}-ceiling`), join(REPO_ROOT, 'bench', 's3-ceiling.ts')], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextMessage = async (timeoutMs: number): Promise<Record<string, unknown>> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`s3-ceiling: no answer in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)), timeoutMs)));
    const died = exited.then((code) => {
      throw new Error(`s3-ceiling exited (${code}): ${stderr.slice(-2000)}`);
    });
    try {
      const r = await Promise.race([lines.next(), timeout, died]);
      if (r.done) throw new Error(`s3-ceiling closed stdout: ${stderr.slice(-2000)}`);
      return JSON.parse(r.value) as Record<string, unknown>;
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    child.stdin.write(`${JSON.stringify(job)}\n`);
    await nextMessage(60_000);
    const meter = new ProcMeter(child.pid!);
    const storageMeters = storagePids(env.ceph).map((p) => new ProcMeter(p));
    meter.start();
    for (const m of storageMeters) m.start();
    child.stdin.write('go\n');
    const { results } = (await nextMessage(w.timeoutMs)) as { results: CeilingResult[] };
    const reading = meter.stop();
    const storageCpuSeconds = cpuOf(storageMeters);
    child.stdin.write('exit\n');
    // Let it exit by itself (under --cpu-prof it writes its profile on the way out).
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
    if (results.length !== set.files.length) throw new Error(`s3-ceiling stored ${results.length} of ${set.files.length}`);
    const n = await listCount(env.s3, env.bucket, prefix);
    if (n !== set.files.length + 1) throw new Error(`S3 holds ${n} objects, expected ${set.files.length + 1}`);
    return {
      send: {
        instances: results.length,
        bytes: results.reduce((s, r) => s + r.bytes, 0),
        startMs: Math.min(...results.map((r) => r.startMs)),
        endMs: Math.max(...results.map((r) => r.endMs)),
        latenciesMs: results.map((r) => r.endMs - r.startMs),
      },
      reading,
      storageCpuSeconds,
    };
  } finally {
    if (child.exitCode === null) await stopPid(child.pid!, 'SIGTERM', 5_000);
    await emptyBucket(env.bucket, env.s3);
  }
}

export async function runOne(env: Env, block: number, w: Workload, contender: ContenderId, rep: number, variant?: Variant): Promise<RunRecord> {
  const seq = sequence++;
  const runId = `${seq}-${w.id}-${contender}${variant ? `-${variant.name}` : ''}`;
  const set = env.corpus[w.set];
  const base = { block, workload: w.id, contender, rep, sequence: seq, ...(variant ? { variant: variant.name } : {}) };
  try {
    const m = contender === 's3-ceiling' ? await runCeiling(env, w, runId, set) : await runDicom(env, w, contender, runId, set, variant);
    const seconds = (m.send.endMs - m.send.startMs) / 1000;
    const r: RunRecord = {
      ...base,
      ok: true,
      instances: m.send.instances,
      bytes: m.send.bytes,
      seconds,
      instancesPerSecond: m.send.instances / seconds,
      mbPerSecond: m.send.bytes / 1e6 / seconds,
      cpuSeconds: m.reading.cpuSeconds,
      cpuSecondsTicks: m.reading.cpuSecondsTicks,
      cpuSecondsPerGb: m.reading.cpuSeconds / (m.send.bytes / 1e9),
      peakRssMb: m.reading.peakRssBytes / MIB,
      latencyP50Ms: quantile(m.send.latenciesMs, 0.5),
      latencyP99Ms: quantile(m.send.latenciesMs, 0.99),
      cpuByThread: Object.fromEntries(Object.entries(m.reading.byThread).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
      ...(m.storageCpuSeconds !== undefined ? { storageCpuSeconds: m.storageCpuSeconds } : {}),
    };
    env.log(`${w.id.padEnd(7)} ${contender.padEnd(14)} rep ${rep + 1}: ${r.instancesPerSecond.toFixed(1)} inst/s, ${r.mbPerSecond.toFixed(1)} MB/s, ` +
      `${r.cpuSecondsPerGb.toFixed(1)} CPU-s/GB, RSS ${r.peakRssMb.toFixed(0)} MiB, p50 ${r.latencyP50Ms.toFixed(2)} ms, p99 ${r.latencyP99Ms.toFixed(2)} ms`);
    return r;
  } catch (error) {
    const message = (error as Error).message;
    env.log(`${w.id} ${contender} rep ${rep + 1}: FAILED ${message}`);
    const nan = Number.NaN;
    return { ...base, ok: false, error: message, instances: 0, bytes: 0, seconds: nan, instancesPerSecond: nan, mbPerSecond: nan, cpuSeconds: nan, cpuSecondsTicks: nan, cpuSecondsPerGb: nan, peakRssMb: nan, latencyP50Ms: nan, latencyP99Ms: nan };
  } finally {
    // Each contender starts with no dirty pages of the previous one waiting for writeback.
    await run('sync', [], { timeoutMs: 120_000 });
  }
}

