// From runs to summaries, paired ratios and the targets.
import { median, spread } from './stats.ts';
import { METRICS, type ContenderId, type Ratio, type RunRecord, type Summary, type Target, type WorkloadId, type WorkloadInfo } from './types.ts';

const RSS_LIMIT_MIB = 200;

function okRuns(runs: readonly RunRecord[], workload: WorkloadId, contender: ContenderId): RunRecord[] {
  return runs.filter((r) => r.ok && r.workload === workload && r.contender === contender);
}

/**
 * Ratios of throughput (instances/s), paired by repetition: within one
 * repetition the two contenders ran minutes apart at most, so machine drift
 * cancels; the median of those pairs is reported with its min–max.
 */
function pairedRatio(runs: readonly RunRecord[], a: { w: WorkloadId; c: ContenderId }, b: { w: WorkloadId; c: ContenderId }): number[] {
  const out: number[] = [];
  for (const ra of okRuns(runs, a.w, a.c)) {
    const rb = okRuns(runs, b.w, b.c).find((r) => r.rep === ra.rep);
    if (rb) out.push(ra.instancesPerSecond / rb.instancesPerSecond);
  }
  return out;
}

export function analyse(workloads: readonly WorkloadInfo[], runs: readonly RunRecord[]): { summaries: Summary[]; ratios: Ratio[]; targets: Target[] } {
  const summaries: Summary[] = [];
  for (const w of workloads) {
    for (const c of w.contenders) {
      const rs = okRuns(runs, w.id, c);
      if (rs.length === 0) continue;
      const metrics = Object.fromEntries(METRICS.map((m) => [m, spread(rs.map((r) => r[m]))])) as Summary['metrics'];
      summaries.push({ workload: w.id, contender: c, runs: rs.length, metrics, cpuSecondsPerInstance: median(rs.map((r) => r.cpuSeconds / r.instances)) });
    }
  }
  const has = (w: WorkloadId, c: ContenderId) => okRuns(runs, w, c).length > 0;
  const ratios: Ratio[] = [];
  const addRatio = (id: string, description: string, w: WorkloadId, num: ContenderId, den: ContenderId) => {
    if (!has(w, num) || !has(w, den)) return;
    const values = pairedRatio(runs, { w, c: num }, { w, c: den });
    if (values.length) ratios.push({ id, description, workload: w, numerator: num, denominator: den, value: spread(values) });
  };
  for (const w of ['small', 'ct', 'ct-jpeg', 'mf150'] as const) {
    addRatio(`local-vs-storescp:${w}`, 'listener (local) / storescp (default)', w, 'listener-file', 'storescp');
    addRatio(`local-vs-storescp-B:${w}`, 'listener (local) / storescp +B', w, 'listener-file', 'storescp-B');
    addRatio(`s3-vs-ceiling:${w}`, 'listener (S3) / S3 ceiling', w, 'listener-s3', 's3-ceiling');
  }
  for (const w of ['conc1', 'conc4', 'conc16'] as const) {
    addRatio(`local-vs-storescp-fork:${w}`, 'listener (local) / storescp --fork', w, 'listener-file', 'storescp-fork');
    addRatio(`s3-vs-ceiling:${w}`, 'listener (S3) / S3 ceiling', w, 'listener-s3', 's3-ceiling');
  }
  for (const c of ['listener-file', 'listener-s3', 'storescp-fork', 's3-ceiling'] as const) {
    for (const n of ['conc4', 'conc16'] as const) {
      if (!has(n, c) || !has('conc1', c)) continue;
      const values = pairedRatio(runs, { w: n, c }, { w: 'conc1', c });
      if (values.length) ratios.push({ id: `scaling:${c}:${n}`, description: `${c}: ${n.slice(4)} associations / 1`, workload: n, numerator: c, denominator: 'conc1', value: spread(values) });
    }
  }

  const targets: Target[] = [];
  const ratio = (id: string) => ratios.find((r) => r.id === id);
  const ratioTarget = (id: string, description: string, threshold: number) => {
    const r = ratio(id);
    if (r) targets.push({ description, value: r.value.median, threshold, comparison: '>=', unit: '×', met: r.value.median >= threshold });
  };
  ratioTarget('local-vs-storescp:ct', 'local folder ≥ 1.0× storescp (default), CT uncompressed', 1.0);
  ratioTarget('local-vs-storescp:ct-jpeg', 'local folder ≥ 1.0× storescp (default), CT JPEG Lossless', 1.0);
  ratioTarget('local-vs-storescp:mf150', 'local folder ≥ 1.0× storescp (default), 150 MB', 1.0);
  ratioTarget('local-vs-storescp:small', 'local folder ≥ 0.75× storescp (default), 9 KB', 0.75);
  for (const w of ['small', 'ct', 'ct-jpeg', 'mf150', 'conc1', 'conc4', 'conc16'] as const) {
    ratioTarget(`s3-vs-ceiling:${w}`, `S3 ≥ 0.8× ceiling, ${workloads.find((x) => x.id === w)?.label ?? w}`, 0.8);
  }
  for (const w of ['mf2g', 'conc16'] as const) {
    for (const c of ['listener-file', 'listener-s3'] as const) {
      const rs = okRuns(runs, w, c);
      if (!rs.length) continue;
      // A peak is a bound: judged on the worst run, not the median.
      const worst = Math.max(...rs.map((r) => r.peakRssMb));
      targets.push({ description: `peak RSS ≤ ${RSS_LIMIT_MIB} MiB, ${c}, ${w === 'mf2g' ? '2 GiB instance' : '16 associations'}`, value: worst, threshold: RSS_LIMIT_MIB, comparison: '<=', unit: 'MiB', met: worst <= RSS_LIMIT_MIB });
    }
  }
  ratioTarget('scaling:listener-file:conc4', '4 associations ≥ 1.6× one, listener (local)', 1.6);
  ratioTarget('scaling:listener-s3:conc4', '4 associations ≥ 1.6× one, listener (S3)', 1.6);
  return { summaries, ratios, targets };
}

/** A target's value as printed: two decimals, or three where two would round it onto its threshold. */
export function targetValue(t: Target): string {
  const two = t.value.toFixed(2);
  return Number(two) === t.threshold && !t.met ? t.value.toFixed(3) : two;
}
