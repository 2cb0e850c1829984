// results.json -> docs/benchmarks.md (tables, targets, method, cost model).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { productionCommand } from '../../test/support/listener-process.ts';
import { targetValue } from './analysis.ts';
import { median, type Spread } from './stats.ts';
import { CONTENDER_LABELS, type BenchResults, type ContenderId, type MetricId, type RunRecord, type Summary, type WorkloadId } from './types.ts';

function productionCommandLine(): string {
  const { entry, nodeArgs } = productionCommand();
  return ['node', ...nodeArgs, entry].join(' ');
}

export const PROFILE_START = '<!-- profile:start -->';
export const PROFILE_END = '<!-- profile:end -->';

/** Fargate on-demand list prices assumed by the cost model (us-east-1, Linux/x86). */
export const FARGATE_VCPU_HOUR_USD = 0.04048;
export const FARGATE_GB_HOUR_USD = 0.004445;
/** The HPA CPU target the cost model sizes for: the listener chart's default (charts/listener-fleet.ts). */
const HPA_TARGET = 0.7;

function num(v: number, digits?: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const d = digits ?? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2);
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

function fmt(s: Spread | undefined, digits?: number): string {
  if (!s || s.n === 0) return 'n/a';
  if (s.n === 1 || s.min === s.max) return num(s.median, digits);
  return `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
}

function summary(r: BenchResults, w: WorkloadId, c: ContenderId): Summary | undefined {
  return r.summaries.find((s) => s.workload === w && s.contender === c);
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

const METRIC_HEAD: [MetricId, string, number | undefined][] = [
  ['instancesPerSecond', 'instances/s', undefined],
  ['mbPerSecond', 'MB/s', undefined],
  ['cpuSecondsPerGb', 'CPU-s/GB', undefined],
  ['peakRssMb', 'peak RSS MiB', 0],
  ['latencyP50Ms', 'p50 ms', undefined],
  ['latencyP99Ms', 'p99 ms', undefined],
];

function workloadTable(r: BenchResults, w: WorkloadId): string {
  const info = r.workloads.find((x) => x.id === w)!;
  const rows = info.contenders.map((c) => {
    const s = summary(r, w, c);
    return [CONTENDER_LABELS[c], ...METRIC_HEAD.map(([m, , d]) => fmt(s?.metrics[m], d))];
  });
  return table(['contender', ...METRIC_HEAD.map(([, h]) => h)], rows);
}

const THREAD_NAMES: [string, string][] = [
  ['MainThread', 'main thread'],
  ['V8Worker', 'V8 helpers (GC)'],
  ['libuv-worker', 'libuv pool (fs)'],
];

/** Median CPU milliseconds per instance by thread, for the processes that have several threads. */
function threadTable(r: BenchResults, w: WorkloadId): string {
  const rows: string[][] = [];
  for (const c of r.workloads.find((x) => x.id === w)?.contenders ?? []) {
    const runs = r.runs.filter((x) => x.ok && x.workload === w && x.contender === c && x.cpuByThread);
    if (!runs.length) continue;
    const per = (f: (x: RunRecord) => number) => num(median(runs.map((x) => (f(x) / x.instances) * 1000)), 2);
    const known = new Set(THREAD_NAMES.map(([k]) => k));
    rows.push([
      CONTENDER_LABELS[c],
      per((x) => x.cpuSeconds),
      ...THREAD_NAMES.map(([k]) => per((x) => x.cpuByThread?.[k] ?? 0)),
      per((x) => Object.entries(x.cpuByThread ?? {}).filter(([k]) => !known.has(k)).reduce((s, [, v]) => s + v, 0)),
    ]);
  }
  return table(['CPU ms per instance', 'total', ...THREAD_NAMES.map(([, h]) => h), 'other threads (storescp: its only one)'], rows);
}

function ratioRows(r: BenchResults, filter: (id: string) => boolean): string[][] {
  return r.ratios.filter((x) => filter(x.id)).map((x) => [r.workloads.find((w) => w.id === x.workload)?.label ?? x.workload, x.description, fmt(x.value), String(x.value.n)]);
}

function machineSection(r: BenchResults): string {
  const m = r.machine;
  return table(['item', 'value'], [
    ['CPUs (nproc)', String(m.nproc)],
    ['CPU model', m.cpuModel],
    ['memory', `${m.memTotalGiB} GiB`],
    ['kernel', m.kernel],
    ['Node.js', m.node],
    ['dcmtk', m.dcmtk],
    ['Ceph', m.ceph],
    ['work dir file system', m.workDirFilesystem],
    ['repository commit', m.gitCommit],
    ['date (UTC)', m.date],
    ['repetitions', String(r.settings.reps)],
    ['wall time of the whole benchmark', `${Math.round(r.durationSeconds / 60)} min`],
  ]);
}

const METHOD = `
- **Harness.** \`npm run bench\` runs \`bench/run.sh\`, which moves into a fresh loopback-only network (and PID) namespace unless it is already in one, compiles the listener (\`tsc -p tsconfig.build.json\`) and runs \`bench/main.ts\`. It generates the corpora in a temporary directory, starts a throwaway single-node Ceph (mon + memstore OSD + RGW 16.2, \`test/support/ceph.ts\`) and runs every contender on every workload.
- **Contenders.** The listener runs as production runs it: the container's command from \`listener/Dockerfile\` (\`${productionCommandLine()}\`), default settings (\`LOG_LEVEL=info\`, max PDU 131072, S3 part 5 MiB, queue 2). dcmtk \`storescp\` gets the same max PDU (\`--max-pdu 131072\`), so every DICOM receiver is sent identical PDUs; it runs with \`+xa -pm -q\` (accept every transfer syntax, no per-instance log lines). "Default" re-encodes each data set from memory; \`+B\` writes the received bytes as they come; \`--fork\` (sweep only) runs one process per association, as plain storescp handles associations one at a time. All local receivers write to the same file system. The S3 ceiling (\`bench/s3-ceiling.ts\`) PUTs the same files to the same RGW with the AWS SDK v3: \`PutObject\` up to the part size, \`lib-storage\` \`Upload\` with the listener's part size and queue size above it, one lane per association, each lane one object at a time.
- **Sender.** dcmtk \`storescu\` (\`TCP_NODELAY=1\`, \`-R\`), one process per association, all started together. The JPEG Lossless files are proposed as JPEG Lossless (\`-xs\`); the harness checks that each local receiver stored them in that transfer syntax and that every receiver holds every instance afterwards.
- **Interleaving.** Within a workload, every repetition runs every contender once, in an order rotated by one each repetition (A B C D E, then B C D E A, …); the concurrency levels 1, 4 and 16 share one block, so their ratios compare neighbours in time. Ratios are the median of the per-repetition pairs.
- **Fresh processes.** Every measured run starts a new receiver process (listener, storescp or ceiling uploader), sends it one unmeasured warm-up instance of the same kind (a CT slice for the multi-frame workloads), then measures. After each run the output is deleted (local folder, or the bucket emptied) and \`sync\` runs, so no contender inherits another's dirty pages.
- **Figures, all measured:**
  - *instances/s, MB/s*: instances (file bytes, 10⁶ bytes per MB) over the window from the first \`Sending file\` to the last \`Received Store Response\` in storescu's own log, which has microsecond timestamps (a log4cplus config); storescu's start-up and file pre-scan are outside the window. For the ceiling, first PUT start to last PUT end.
  - *C-STORE latency p50/p99*: per instance, storescu's \`Sending Store Request\` (file already loaded) to \`Received Store Response\`: wire, receiver and durable store, as the sender waits for it. For the ceiling, one PUT (or whole multipart upload). The table gives the median over repetitions of each run's p50 and p99.
  - *CPU-s/GB*: the receiver process's CPU time over the measured window, user + system, all threads (sum of \`/proc/<pid>/task/*/schedstat\`, nanosecond resolution; \`utime+stime\` from \`/proc/<pid>/stat\` is recorded alongside in results.json as a cross-check), divided by the data in 10⁹ bytes. For \`storescp --fork\` the children's CPU is added. Not included: the sender, and Ceph's own CPU (recorded as \`storageCpuSeconds\` in results.json for the S3 rows).
  - *peak RSS*: \`VmHWM\` of the receiver process at the end of the run (a fresh process per run, so it is that run's peak, warm-up and start-up included); for \`--fork\`, the largest child or parent.
- **Derived:** ratios (paired medians), and everything in the cost model below.
- **Fairness notes.** The listener fsyncs every object and its folder before it answers (durability is its contract); storescp never fsyncs, so its data reaches the disk after it has answered, and the kernel's writeback of it is not charged to its CPU. Measured with \`npm run bench -- ab\` against a build without the two fsyncs (a diagnostic, not a fix): they cost the listener about 9% of its 9 KB throughput, 20% on CT and 23% on 150 MB on this disk. The S3 listener verifies what RGW stored (Content-MD5 on single PUTs, the multipart ETag via a HEAD on Ceph); the ceiling verifies nothing. The sender, the receivers and Ceph share two cores (and this machine is shared with other work: see the min–max spreads), so single-association figures of a fast receiver are bounded by storescu and Ceph, not by the receiver alone.
`;

function costModel(r: BenchResults): string {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const w of ['small', 'ct', 'ct-jpeg', 'mf150', 'conc16'] as const) {
    for (const c of ['listener-file', 'listener-s3'] as const) {
      const s = summary(r, w, c);
      if (!s) continue;
      const cpu = s.cpuSecondsPerInstance;
      const vcpuS = cpu * 1e6;
      // A task whose CPU the HPA holds at HPA_TARGET of 1 vCPU.
      const perTask = HPA_TARGET / cpu;
      const taskSeconds = 1e6 / perTask;
      const billedGbS = 2 * taskSeconds;
      const residentGbS = (s.metrics.peakRssMb.median / 1024) * taskSeconds;
      const usd = (taskSeconds / 3600) * (1 * FARGATE_VCPU_HOUR_USD + 2 * FARGATE_GB_HOUR_USD);
      rows.push([
        r.workloads.find((x) => x.id === w)!.label,
        c === 'listener-file' ? 'local' : 'S3',
        num(cpu * 1000, 3),
        num(vcpuS, 0),
        num(perTask),
        num(taskSeconds, 0),
        num(billedGbS, 0),
        num(residentGbS, 0),
        `$${num(usd, 3)}`,
      ]);
    }
  }
  const ct = summary(r, 'ct', 'listener-s3');
  const conc16 = summary(r, 'conc16', 'listener-s3');
  if (ct) notes.push(`A 1 vCPU task held at ${HPA_TARGET * 100}% CPU takes about ${num(HPA_TARGET / ct.cpuSecondsPerInstance, 0)} CT instances/s into S3 (derived from the measured ${num(ct.cpuSecondsPerInstance * 1000, 2)} ms of CPU per instance).`);
  if (conc16) notes.push(`With 16 associations the S3 listener peaked at ${num(conc16.metrics.peakRssMb.max, 0)} MiB RSS (measured, worst run).`);
  return `
All figures here are **derived** from the measured medians above: CPU seconds per instance (measured: receiver CPU over the run / instances) scaled to a million instances. "Task" means the chart's default pod: 1 vCPU and 2 GB (the smallest memory Fargate allows with 1 vCPU), with the HPA keeping its CPU at the chart's default ${HPA_TARGET * 100}%; "billed" GB-s is 2 GB × task-seconds, "resident" GB-s is the measured peak RSS × task-seconds. Prices assume Fargate on-demand in us-east-1 (Linux/x86) at $${FARGATE_VCPU_HOUR_USD} per vCPU-hour and $${FARGATE_GB_HOUR_USD} per GB-hour; check current pricing. The model assumes throughput scales with CPU up to the task's vCPU, which holds only while one Node.js thread is not the limit (see the concurrency sweep: the listener's event loop is one core).

${table(['workload', 'backend', 'CPU ms/instance', 'vCPU-s per 10⁶', 'instances/s per task at target', 'task-s per 10⁶', 'billed GB-s per 10⁶', 'resident GB-s per 10⁶', 'USD per 10⁶'], rows)}

${notes.map((n) => `- ${n}`).join('\n')}
- **Task size.** Memory is not what limits a task: peak RSS stays far below 2 GB (tables above), and each in-flight instance above one part adds about part size × (queue + 1) = ${Number(r.settings.s3PartSizeMiB) * (Number(r.settings.s3QueueSize) + 1)} MiB. CPU is: the listener is one Node.js event loop, so a task uses little more than one vCPU whatever its size (Node's GC and libuv threads add some). 1 vCPU / 2 GB is the natural size; 0.5 vCPU / 1 GB halves the price per task and the throughput per task alike, and leaves less headroom for bursts.
- **HPA.** CPU is the signal that tracks load: the chart's 70% CPU target is reasonable; above it, C-STORE latency (what a PACS feels) grows as instances queue on the one event loop. The chart's second metric, memory at 80%, never fires first: peak RSS is about a tenth of the 1.75 GiB container. DICOM associations are long-lived TCP connections behind an NLB, so a new task only receives new associations: scale out early (60–70% CPU, not higher), keep \`minReplicas\` ≥ 2 so a burst from one modality does not wait for a scale-up, and prefer \`dicom_associations_active\` (on /metrics) as a secondary, custom-metric signal for senders that hold associations open.
`;
}

export function renderMarkdown(r: BenchResults, profileSection: string): string {
  const parts: string[] = [];
  parts.push(`# Benchmarks

Generated by \`npm run bench\` (\`bench/run.sh\`, ${r.mode} mode) on ${r.machine.date.slice(0, 10)} at commit \`${r.machine.gitCommit}\`; raw per-run figures are in \`bench/results/latest.json\`. Re-run to refresh every table; only the profile section at the end is written by hand (\`--profile\` refreshes its measured part).

What this measures (issue #6): ingest speed of the listener against dcmtk's \`storescp\` writing to the same disk, and against the storage's own limit (the same objects PUT straight to the same S3 endpoint), CPU per GB, memory, and C-STORE latency as the sender sees it. Figures are medians over ${r.settings.reps} interleaved repetitions with (min–max).`);

  parts.push(`## Targets\n\n${table(['target', 'measured', 'threshold', 'met'], r.targets.map((t) => [t.description, `${t.unit === '×' ? targetValue(t) : num(t.value)} ${t.unit}`, `${t.comparison} ${t.threshold} ${t.unit}`, t.met ? 'yes' : '**no**']))}${r.mode === 'smoke' ? '\n\nSmoke mode: tiny counts and one repetition; these verdicts only show that the harness computes them.' : ''}`);

  parts.push(`## Machine\n\n${machineSection(r)}`);
  parts.push(`## Method\n${METHOD}`);

  const sections: string[] = ['## Results'];
  for (const w of ['small', 'ct', 'ct-jpeg', 'mf150'] as const) {
    const info = r.workloads.find((x) => x.id === w);
    if (!info) continue;
    sections.push(`### ${info.label}: ${info.corpus}, one association\n\n${workloadTable(r, w)}\n\n${table(['workload', 'ratio of instances/s', 'median (min–max)', 'pairs'], ratioRows(r, (id) => id.endsWith(`:${w}`)))}\n\n${threadTable(r, w)}`);
  }
  const sweep = r.workloads.filter((x) => x.id.startsWith('conc'));
  if (sweep.length) {
    const rows: string[][] = [];
    for (const info of sweep) {
      for (const c of info.contenders) {
        const s = summary(r, info.id, c);
        rows.push([String(info.lanes), CONTENDER_LABELS[c], ...METRIC_HEAD.map(([m, , d]) => fmt(s?.metrics[m], d))]);
      }
    }
    sections.push(`### Concurrency sweep: ${sweep[0]!.corpus}, split over 1, 4 and 16 associations\n\n${table(['associations', 'contender', ...METRIC_HEAD.map(([, h]) => h)], rows)}\n\n${table(['level', 'ratio of instances/s', 'median (min–max)', 'pairs'], ratioRows(r, (id) => id.startsWith('scaling:') || /:conc\d+$/.test(id)))}`);
  }
  const huge = r.workloads.find((x) => x.id === 'mf2g');
  if (huge) {
    const rows = huge.contenders.map((c) => {
      const s = summary(r, 'mf2g', c);
      return [CONTENDER_LABELS[c], fmt(s?.metrics.peakRssMb, 0), fmt(s?.metrics.mbPerSecond), fmt(s?.metrics.cpuSecondsPerGb), s ? num(s.metrics.latencyP50Ms.median / 1000, 1) : 'n/a'];
    });
    sections.push(`### ${huge.label}: ${huge.corpus}, one association, ${huge.reps} run each\n\nMemory is the point here; one run per contender.\n\n${table(['contender', 'peak RSS MiB', 'MB/s', 'CPU-s/GB', 'seconds'], rows)}`);
  }
  const failed = r.runs.filter((x) => !x.ok);
  if (failed.length) sections.push(`### Failed runs\n\n${table(['workload', 'contender', 'rep', 'error'], failed.map((f) => [f.workload, f.contender, String(f.rep + 1), f.error ?? '']))}`);
  parts.push(sections.join('\n\n'));
  parts.push(`## Cost model\n${costModel(r)}`);
  parts.push(`## Profile\n\n${PROFILE_START}\n${profileSection.trim() || '_Not profiled yet: run `bash bench/run.sh --profile`._'}\n${PROFILE_END}`);
  return `${parts.join('\n\n')}\n`;
}

/** The hand-written/profile section of an existing report, kept across regenerations. */
export function existingProfileSection(path: string): string {
  if (!existsSync(path)) return '';
  const text = readFileSync(path, 'utf8');
  const a = text.indexOf(PROFILE_START);
  const b = text.indexOf(PROFILE_END);
  return a >= 0 && b > a ? text.slice(a + PROFILE_START.length, b) : '';
}

/** Where the report goes: --out DIR, else docs/ for a full run, else a temp dir. */
export function reportPaths(mode: BenchResults['mode'], out: string | undefined, repo: string): { markdown: string; json: string } {
  if (out) return { markdown: join(out, 'benchmarks.md'), json: join(out, 'results.json') };
  if (mode === 'full') return { markdown: join(repo, 'docs', 'benchmarks.md'), json: join(repo, 'bench', 'results', 'latest.json') };
  const dir = mkdtempSync(join(tmpdir(), 'dicom-bench-report-'));
  return { markdown: join(dir, 'benchmarks.md'), json: join(dir, 'results.json') };
}

export function writeReport(r: BenchResults, opts: { out: string | undefined; repo: string; jsonAlso: boolean }): string[] {
  const paths = reportPaths(r.mode, opts.out, opts.repo);
  for (const p of [paths.markdown, paths.json]) mkdirSync(dirname(p), { recursive: true });
  // NaN is not JSON; failed runs keep null there.
  if (opts.jsonAlso) writeFileSync(paths.json, `${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  const profile = existingProfileSection(paths.markdown) || existingProfileSection(join(opts.repo, 'docs', 'benchmarks.md'));
  writeFileSync(paths.markdown, renderMarkdown(r, profile));
  return opts.jsonAlso ? [paths.markdown, paths.json] : [paths.markdown];
}
