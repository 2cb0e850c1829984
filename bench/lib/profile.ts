// `bash bench/run.sh --profile`: the listener (and, for comparison, the S3
// ceiling uploader) under `node --cpu-prof` on the 9 KB and CT workloads, one
// run each, then a summary of where the busy time goes. The summary replaces
// the generated part of docs/benchmarks.md's profile section (or goes to
// --out); the .cpuprofile files are copied next to it for DevTools.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROFILE_END, PROFILE_START } from './report.ts';
import { formatSummary, summarizeProfile, type ProfileSummary } from './cpuprofile.ts';
import type { ContenderId, RunRecord, WorkloadId, WorkloadInfo } from './types.ts';

export interface ProfileDeps {
  runOne(w: WorkloadInfo, c: ContenderId, rep: number): Promise<RunRecord>;
  plan: WorkloadInfo[];
  profileDir: string;
  out: string | undefined;
  repo: string;
  log(line: string): void;
}

const CASES: [WorkloadId, ContenderId][] = [
  ['small', 'listener-file'],
  ['small', 'listener-s3'],
  ['ct', 'listener-file'],
  ['ct', 'listener-s3'],
  ['ct', 's3-ceiling'],
];

export const GENERATED_START = '<!-- profile-generated:start -->';
export const GENERATED_END = '<!-- profile-generated:end -->';

function section(results: { w: WorkloadId; c: ContenderId; run: RunRecord; s: ProfileSummary }[]): string {
  const out: string[] = [GENERATED_START, '', `Measured by \`bash bench/run.sh --profile\` on ${new Date().toISOString().slice(0, 10)}: one run per case under \`node --cpu-prof\` (the profiler itself costs some throughput). Shares are of busy (non-idle) main-thread time, self time by category; V8's profiler samples the main thread by wall clock, so on this busy two-core machine native calls that wake another thread (fs, socket writes) also carry time the main thread spent preempted. The per-thread CPU in each summary line comes from /proc and is exact.`, ''];
  for (const { w, c, run, s } of results) {
    const threads = Object.entries(run.cpuByThread ?? {}).filter(([, v]) => v > 0.001).map(([k, v]) => `${k} ${((v / run.instances) * 1000).toFixed(2)}`).join(', ');
    out.push(
      `<details><summary>${w} → ${c}: ${run.instancesPerSecond.toFixed(0)} instances/s; CPU ms per instance by thread: ${threads}</summary>`,
      '',
      '```text',
      formatSummary({ ...s, file: `${w}-${c} (steady state: from the first DICOM/S3 frame after the warm-up instance to the last)` }),
      '```',
      '',
      '</details>',
      '',
    );
  }
  out.push(GENERATED_END);
  return out.join('\n');
}

export async function profile(deps: ProfileDeps): Promise<number> {
  const results: { w: WorkloadId; c: ContenderId; run: RunRecord; s: ProfileSummary }[] = [];
  const keep = join(deps.out ?? join(deps.repo, 'bench', 'results'), 'profiles');
  mkdirSync(keep, { recursive: true });
  for (const [w, c] of CASES) {
    // --only narrows the plan; profile just what is in it.
    const workload = deps.plan.find((x) => x.id === w);
    if (!workload) continue;
    const run = await deps.runOne(workload, c, 0);
    if (!run.ok) throw new Error(`profile run ${w} ${c} failed: ${run.error}`);
    const tag = `${w}-${c === 's3-ceiling' ? 'ceiling' : c}`;
    const dir = join(deps.profileDir, tag);
    const file = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) : undefined;
    if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
    copyFileSync(join(dir, file), join(keep, `${tag}.cpuprofile`));
    const s = summarizeProfile(join(dir, file), 20);
    deps.log(`\n${formatSummary({ ...s, file: tag })}\n`);
    results.push({ w, c, run, s });
  }
  const doc = deps.out ? join(deps.out, 'benchmarks.md') : join(deps.repo, 'docs', 'benchmarks.md');
  const generated = section(results);
  let text = existsSync(doc) ? readFileSync(doc, 'utf8') : `# Benchmarks\n\n## Profile\n\n${PROFILE_START}\n${PROFILE_END}\n`;
  if (!text.includes(PROFILE_START)) text += `\n## Profile\n\n${PROFILE_START}\n${PROFILE_END}\n`;
  if (text.includes(GENERATED_START) && text.includes(GENERATED_END)) {
    text = text.slice(0, text.indexOf(GENERATED_START)) + generated + text.slice(text.indexOf(GENERATED_END) + GENERATED_END.length);
  } else {
    text = text.replace(PROFILE_END, `${generated}\n${PROFILE_END}`);
  }
  mkdirSync(join(doc, '..'), { recursive: true });
  writeFileSync(doc, text);
  deps.log(`profiles in ${keep}; summary written to ${doc}`);
  return 0;
}
