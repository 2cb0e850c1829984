// `npm run bench -- ab --b PATH/dist/listener/main.js [options]`: two builds of
// the listener side by side, to measure one change. Build B is typically a git
// worktree with the change, compiled with `tsc -p tsconfig.build.json`; A is
// this checkout's dist/listener/main.js unless --a says otherwise. The runs
// alternate A, B, B, A, A, B, ... so drift cancels, and the paired ratios B/A
// are reported with their medians and ranges.
//
//   --workloads small,ct,ct-jpeg,mf150,conc4,conc16,mf2g   (default small,ct)
//   --backends file,s3                          (default file; s3 starts Ceph)
//   --reps N (default 7)  --smoke (tiny corpus)  --out DIR
//   --node-arg ARG (repeatable; both builds)  --a-node-arg / --b-node-arg ARG (one build only, e.g. a V8 flag under test)
//   --a-env / --b-env NAME=VALUE (repeatable; one build only, e.g. a glibc malloc setting under test)
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { startCeph, stopCeph } from '../test/support/ceph.ts';
import type { CephSettings } from '../test/support/context.ts';
import { isNetworkIsolated } from '../test/support/isolation.ts';
import { REPO_ROOT } from '../test/support/listener-process.ts';
import { createBucket, s3Client } from '../test/support/s3.ts';
import { buildCorpus, FULL_COUNTS, SMOKE_COUNTS, type SetName } from './lib/corpus.ts';
import { runOne, type Env, type Variant, type Workload } from './lib/runner.ts';
import { median, spread, type Spread } from './lib/stats.ts';
import { writeLogConfig } from './lib/storescu-lanes.ts';
import type { ContenderId, RunRecord, WorkloadId } from './lib/types.ts';

const t0 = Date.now();
const log = (line: string) => process.stderr.write(`[ab ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

const WORKLOADS: Record<string, { id: WorkloadId; set: SetName; lanes: number; label: string }> = {
  small: { id: 'small', set: 'small', lanes: 1, label: '9 KB' },
  ct: { id: 'ct', set: 'ct', lanes: 1, label: 'CT' },
  'ct-jpeg': { id: 'ct-jpeg', set: 'ctJpeg', lanes: 1, label: 'CT JPEG Lossless' },
  mf150: { id: 'mf150', set: 'mf150', lanes: 1, label: '150 MB' },
  conc4: { id: 'conc4', set: 'ct', lanes: 4, label: 'CT, 4 associations' },
  conc16: { id: 'conc16', set: 'ct', lanes: 16, label: 'CT, 16 associations' },
  mf2g: { id: 'mf2g', set: 'mf2g', lanes: 1, label: '2 GiB' },
};

function parse(argv: string[]) {
  const o = { a: 'dist/listener/main.js', b: '', workloads: ['small', 'ct'], backends: ['file'], reps: 7, smoke: false, out: undefined as string | undefined, nodeArgs: [] as string[], aNodeArgs: [] as string[], bNodeArgs: [] as string[], aEnv: {} as Record<string, string>, bEnv: {} as Record<string, string> };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i] ?? (() => { throw new Error(`${a} needs a value`); })();
    if (a === '--a') o.a = v();
    else if (a === '--b') o.b = v();
    else if (a === '--workloads') o.workloads = v().split(',');
    else if (a === '--backends') o.backends = v().split(',');
    else if (a === '--reps') o.reps = Number(v());
    else if (a === '--smoke') o.smoke = true;
    else if (a === '--out') o.out = v();
    else if (a === '--node-arg') o.nodeArgs.push(v());
    else if (a === '--a-node-arg') o.aNodeArgs.push(v());
    else if (a === '--b-node-arg') o.bNodeArgs.push(v());
    else if (a === '--a-env' || a === '--b-env') {
      const [name, ...value] = v().split('=');
      if (!name || value.length === 0) throw new Error(`${a} needs NAME=VALUE`);
      (a === '--a-env' ? o.aEnv : o.bEnv)[name] = value.join('=');
    }
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.b) throw new Error('--b PATH/dist/listener/main.js is required');
  for (const w of o.workloads) if (!WORKLOADS[w]) throw new Error(`unknown workload ${w}; use ${Object.keys(WORKLOADS).join(', ')}`);
  for (const b of o.backends) if (b !== 'file' && b !== 's3') throw new Error(`unknown backend ${b}`);
  return o;
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  if (!isNetworkIsolated()) throw new Error('ab: the network is not isolated; run it with `npm run bench -- ab ...`');
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(REPO_ROOT, p));
  const variants: [Variant, Variant] = [
    { name: 'A', entry: abs(o.a), nodeArgs: o.aNodeArgs, env: o.aEnv },
    { name: 'B', entry: abs(o.b), nodeArgs: o.bNodeArgs, env: o.bEnv },
  ];
  const work = mkdtempSync(join(tmpdir(), 'dicom-ab-'));
  const cephDir = join(work, 'ceph');
  const needS3 = o.backends.includes('s3');
  try {
    const want = new Set<SetName>(o.workloads.map((w) => WORKLOADS[w]!.set));
    const [corpus, ceph] = await Promise.all([
      buildCorpus(join(work, 'corpus'), o.smoke ? SMOKE_COUNTS : FULL_COUNTS, log, want),
      needS3 ? startCeph(cephDir, { memstoreBytes: 8 * 1024 ** 3 }) : Promise.resolve(undefined),
    ]);
    const settings: CephSettings = ceph ?? { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', accessKeyId: 'x', secretAccessKey: 'x', cephDir, stateFile: '' };
    const s3 = s3Client({}, settings);
    const env: Env = {
      work,
      corpus,
      ceph: settings,
      bucket: needS3 ? await createBucket('ab-bench', s3) : 'unused',
      s3,
      logConfig: writeLogConfig(work),
      log,
      nodeArgs: () => o.nodeArgs,
    };
    const runs: RunRecord[] = [];
    const lines: string[] = [];
    for (const wName of o.workloads) {
      const spec = WORKLOADS[wName]!;
      for (const backend of o.backends) {
        const contender: ContenderId = backend === 's3' ? 'listener-s3' : 'listener-file';
        const w: Workload = { id: spec.id, label: spec.label, set: spec.set, lanes: spec.lanes, contenders: [contender], reps: o.reps, memoryOnly: false, corpus: corpus[spec.set].description, timeoutMs: 300_000 };
        const mine: RunRecord[] = [];
        for (let rep = 0; rep < o.reps; rep++) {
          // A B, B A, A B, ...: each build goes first equally often.
          const order = rep % 2 === 0 ? variants : ([variants[1], variants[0]] as const);
          for (const v of order) mine.push(await runOne(env, 0, w, contender, rep, v));
        }
        runs.push(...mine);
        const by = (name: string) => mine.filter((r) => r.ok && r.variant === name);
        const pairs = (f: (r: RunRecord) => number) => by('B').flatMap((b) => {
          const a = by('A').find((x) => x.rep === b.rep);
          return a ? [f(b) / f(a)] : [];
        });
        const show = (s: Spread, d = 2) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
        const cpuPerInst = (r: RunRecord) => (r.cpuSeconds / r.instances) * 1000;
        lines.push(
          `${spec.label} → ${backend}:`,
          `  instances/s      A ${show(spread(by('A').map((r) => r.instancesPerSecond)), 1)}   B ${show(spread(by('B').map((r) => r.instancesPerSecond)), 1)}   B/A ${show(spread(pairs((r) => r.instancesPerSecond)))}`,
          `  CPU ms/instance  A ${show(spread(by('A').map(cpuPerInst)), 3)}   B ${show(spread(by('B').map(cpuPerInst)), 3)}   B/A ${show(spread(pairs(cpuPerInst)))}`,
          `  p50 ms           A ${median(by('A').map((r) => r.latencyP50Ms)).toFixed(2)}   B ${median(by('B').map((r) => r.latencyP50Ms)).toFixed(2)}   ` +
            `peak RSS MiB A ${median(by('A').map((r) => r.peakRssMb)).toFixed(0)}   B ${median(by('B').map((r) => r.peakRssMb)).toFixed(0)}`,
        );
      }
    }
    const out = o.out ?? mkdtempSync(join(tmpdir(), 'dicom-ab-report-'));
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'ab.json'), `${JSON.stringify({ a: o.a, b: o.b, runs }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
    const envText = (env: Record<string, string>) => Object.entries(env).map(([name, value]) => `${name}=${value}`).join(' ');
    const head = `A = ${envText(o.aEnv)} ${o.a} ${o.aNodeArgs.join(' ')}\nB = ${envText(o.bEnv)} ${o.b} ${o.bNodeArgs.join(' ')}\n`;
    writeFileSync(join(out, 'ab.txt'), `${head}${lines.join('\n')}\n`);
    process.stdout.write(`${head}${lines.join('\n')}\n(raw runs: ${join(out, 'ab.json')})\n`);
    return runs.some((r) => !r.ok) ? 1 : 0;
  } finally {
    if (needS3) await stopCeph(cephDir).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  process.exit(await main());
} catch (error) {
  log(`ab failed: ${(error as Error).stack ?? String(error)}`);
  process.exit(2);
}
