// `npm run bench` (bench/run.sh runs this inside a loopback-only network namespace).
//
//   bash bench/run.sh             full run: writes docs/benchmarks.md and bench/results/latest.json
//   bash bench/run.sh --smoke     tiny counts, one repetition: checks the harness, never judges speed
//   bash bench/run.sh --profile   the listener under --cpu-prof on the 9 KB and CT workloads
//   bash bench/run.sh --render bench/results/latest.json   re-render docs/benchmarks.md from saved results
//   options: --reps N, --only small,ct,... (blocks by their first workload), --out DIR, --keep,
//            --listener-entry PATH/main.js and --listener-node-arg ARG (what-if runs of another build; partial mode)
//
// Every contender runs in its own fresh process for every measured run, after
// one unmeasured warm-up instance; contenders take turns (rotated order per
// repetition) so drift on this shared machine hits them all alike.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCeph, stopCeph } from '../test/support/ceph.ts';
import { isNetworkIsolated } from '../test/support/isolation.ts';
import { REPO_ROOT } from '../test/support/listener-process.ts';
import { createBucket, s3Client } from '../test/support/s3.ts';
import { analyse, targetValue } from './lib/analysis.ts';
import { buildCorpus, FULL_COUNTS, SMOKE_COUNTS, type SetName } from './lib/corpus.ts';
import { machineInfo } from './lib/machine.ts';
import { profile } from './lib/profile.ts';
import { writeReport } from './lib/report.ts';
import { MAX_PDU, PART_SIZE_MIB, QUEUE_SIZE, rotate, runOne, type Env, type Workload } from './lib/runner.ts';
import { writeLogConfig } from './lib/storescu-lanes.ts';
import { CONTENDERS, type BenchResults, type ContenderId, type RunRecord, type WorkloadId, type WorkloadInfo } from './lib/types.ts';

interface Options {
  /** full = every workload at full counts; partial = --only; smoke = tiny counts. */
  mode: 'full' | 'smoke' | 'partial';
  profile: boolean;
  reps: number;
  only: string[] | undefined;
  out: string | undefined;
  keep: boolean;
  /** Re-render the report from an existing results.json instead of measuring. */
  render: string | undefined;
  /** What-if runs: another listener build and extra node flags for it (never written to docs/). */
  listenerEntry: string | undefined;
  listenerNodeArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { mode: 'full', profile: false, reps: 5, only: undefined, out: undefined, keep: false, render: undefined, listenerEntry: undefined, listenerNodeArgs: [] };
  let repsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--smoke') o.mode = 'smoke';
    else if (a === '--profile') o.profile = true;
    else if (a === '--reps') {
      o.reps = Number(value());
      repsGiven = true;
    } else if (a === '--only') o.only = value().split(',');
    else if (a === '--out') o.out = value();
    else if (a === '--keep') o.keep = true;
    else if (a === '--render') o.render = value();
    else if (a === '--listener-entry') o.listenerEntry = value();
    else if (a === '--listener-node-arg') o.listenerNodeArgs.push(value());
    else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.reps) || o.reps < 1 || o.reps > 20) throw new Error('--reps must be 1..20');
  if (o.mode === 'smoke' && !repsGiven) o.reps = 1;
  if (o.mode === 'full' && (o.only || o.listenerEntry || o.listenerNodeArgs.length)) o.mode = 'partial';
  return o;
}

const t0 = Date.now();
const log = (line: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

// ---------------------------------------------------------------------------
// The plan


const SINGLE: ContenderId[] = ['listener-file', 'storescp', 'storescp-B', 'listener-s3', 's3-ceiling'];
const SWEEP: ContenderId[] = ['listener-file', 'storescp-fork', 'listener-s3', 's3-ceiling'];
/** Memory only: the references show what dcmtk holds (default re-encodes in memory; +B writes as it reads). */
const HUGE: ContenderId[] = ['listener-file', 'listener-s3', 'storescp-B', 'storescp'];

/** The workloads in blocks; `corpus` descriptions are filled in once the corpus exists. */
function plan(reps: number): Workload[][] {
  const w = (id: WorkloadId, label: string, set: SetName, lanes: number, contenders: ContenderId[], extra: Partial<Workload> = {}): Workload => ({
    id, label, set, lanes, contenders, reps, memoryOnly: false, corpus: '', timeoutMs: 120_000, ...extra,
  });
  return [
    [w('small', '9 KB instances', 'small', 1, SINGLE)],
    [w('ct', 'CT 513 KB, uncompressed', 'ct', 1, SINGLE)],
    [w('ct-jpeg', 'CT, JPEG Lossless', 'ctJpeg', 1, SINGLE)],
    [w('mf150', '150 MB multi-frame', 'mf150', 1, SINGLE)],
    // One block: the three levels interleave, so the scaling ratio compares neighbours in time.
    [
      w('conc1', 'CT, 1 association', 'ct', 1, SWEEP),
      w('conc4', 'CT, 4 associations', 'ct', 4, SWEEP),
      w('conc16', 'CT, 16 associations', 'ct', 16, SWEEP),
    ],
    [w('mf2g', '2 GiB multi-frame (memory)', 'mf2g', 1, HUGE, { reps: 1, memoryOnly: true, timeoutMs: 600_000 })],
  ];
}

// ---------------------------------------------------------------------------
// Shared state of one bench process

// ---------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.render) {
    const results = JSON.parse(readFileSync(opts.render, 'utf8'), (_k, v: unknown) => (v === null ? Number.NaN : v)) as BenchResults;
    // Targets and ratios follow the current analysis code.
    Object.assign(results, analyse(results.workloads, results.runs));
    for (const p of writeReport(results, { out: opts.out, repo: REPO_ROOT, jsonAlso: false })) log(`wrote ${p}`);
    return 0;
  }
  if (!isNetworkIsolated()) throw new Error('bench: the network is not isolated; run it with `npm run bench` (bench/run.sh), which makes a loopback-only namespace');
  const deadline = setTimeout(() => {
    log('global deadline (40 min) passed: aborting');
    process.exit(3);
  }, (opts.mode === 'smoke' ? 5 : 40) * 60_000);
  deadline.unref();

  // Short path: Ceph admin sockets are Unix sockets (<= 107 bytes).
  const work = mkdtempSync(join(tmpdir(), 'dicom-bench-'));
  const cephDir = join(work, 'ceph');
  log(`mode ${opts.mode}, ${opts.reps} repetition(s), work dir ${work}`);
  try {
    const profiling = opts.profile;
    const blocks = plan(profiling ? 1 : opts.reps).filter((b) => !opts.only || b.some((w) => opts.only!.includes(w.id)));
    const want = new Set<SetName>(profiling ? ['small', 'ct'] : blocks.flat().map((w) => w.set));
    const [corpus, settings] = await Promise.all([
      buildCorpus(join(work, 'corpus'), opts.mode === 'smoke' ? SMOKE_COUNTS : FULL_COUNTS, log, want),
      startCeph(cephDir, { memstoreBytes: 8 * 1024 ** 3 }).then((s) => {
        log(`Ceph RGW ready at ${s.endpoint}`);
        return s;
      }),
    ]);
    const ceph = settings;
    for (const w of blocks.flat()) w.corpus = want.has(w.set) ? corpus[w.set].description : '';
    const s3 = s3Client({}, ceph);
    const bucket = await createBucket('bench', s3);
    const profileDir = join(work, 'profiles');
    const env: Env = {
      work,
      corpus,
      ceph,
      bucket,
      s3,
      logConfig: writeLogConfig(work),
      log,
      ...(opts.listenerEntry ? { listenerEntry: opts.listenerEntry } : {}),
      listenerNodeArgs: opts.listenerNodeArgs,
      nodeArgs: profiling ? (tag) => ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, tag)}`] : () => [],
    };
    if (profiling) {
      const workloads = blocks.flat();
      return await profile({
        runOne: (w, c, rep) => runOne(env, 0, workloads.find((x) => x.id === w.id)!, c, rep),
        plan: workloads,
        profileDir,
        out: opts.out,
        repo: REPO_ROOT,
        log,
      });
    }

    const runs: RunRecord[] = [];
    for (const [bi, block] of blocks.entries()) {
      const reps = Math.max(...block.map((w) => w.reps));
      for (let rep = 0; rep < reps; rep++) {
        for (const w of block) {
          if (rep >= w.reps) continue;
          for (const c of rotate(w.contenders, rep)) runs.push(await runOne(env, bi, w, c, rep));
        }
      }
    }
    const workloads: WorkloadInfo[] = blocks.flat().map(({ set: _s, timeoutMs: _t, ...info }) => info);
    const machine = await machineInfo(work, REPO_ROOT);
    const results: BenchResults = {
      mode: opts.mode,
      machine,
      settings: {
        reps: opts.reps,
        maxPduLength: MAX_PDU,
        s3PartSizeMiB: PART_SIZE_MIB,
        s3QueueSize: QUEUE_SIZE,
        memstoreGiB: 8,
        contenders: CONTENDERS.join(','),
        listener: `${opts.listenerEntry ?? 'dist/listener/main.js'} ${opts.listenerNodeArgs.join(' ')}`.trim(),
      },
      workloads,
      runs,
      ...analyse(workloads, runs),
      durationSeconds: Math.round((Date.now() - t0) / 1000),
    };
    const written = writeReport(results, { out: opts.out, repo: REPO_ROOT, jsonAlso: true });
    for (const p of written) log(`wrote ${p}`);
    for (const t of results.targets) log(`target ${t.met ? 'MET    ' : 'NOT MET'} ${t.description}: ${targetValue(t)} ${t.comparison} ${t.threshold} ${t.unit}`);
    const failed = runs.filter((r) => !r.ok);
    if (failed.length) {
      log(`${failed.length} run(s) failed; see the report`);
      return 1;
    }
    return 0;
  } finally {
    await stopCeph(cephDir, { keepDir: opts.keep }).catch((e: unknown) => log(`stopping Ceph: ${(e as Error).message}`));
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

try {
  const code = await main();
  log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  process.exit(code);
} catch (error) {
  log(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exit(2);
}
