// The benchmark harness must not rot: CI runs `npm run bench -- --smoke` (tiny
// counts, one repetition) and checks that it produced a complete report. It
// never judges a speed figure; targets may be met or not.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CONTENDER_LABELS, CONTENDERS, METRICS, WORKLOADS, type BenchResults } from '../../bench/lib/types.ts';
import { REPO_ROOT } from '../support/listener-process.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

const SMOKE_TIMEOUT_MS = 420_000;

describe('npm run bench -- --smoke', () => {
  let out: string;
  let exit: { code: number | null; stderr: string };
  let results: BenchResults;
  let markdown: string;

  beforeAll(async () => {
    out = await makeWorkDir('bench-smoke-');
    exit = await new Promise((resolve) => {
      // bench/run.sh sees that the suite's namespace is already isolated and does not unshare again.
      execFile('bash', [join(REPO_ROOT, 'bench', 'run.sh'), '--smoke', '--out', out], { cwd: REPO_ROOT, timeout: SMOKE_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stderr });
      });
    });
    if (existsSync(join(out, 'results.json'))) results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchResults;
    if (existsSync(join(out, 'benchmarks.md'))) markdown = readFileSync(join(out, 'benchmarks.md'), 'utf8');
  }, SMOKE_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await removeWorkDir(out);
  });

  test('exits 0 and writes results.json and benchmarks.md', () => {
    expect(exit.code, exit.stderr.slice(-6000)).toBe(0);
    expect(results, 'results.json').toBeDefined();
    expect(markdown, 'benchmarks.md').toBeDefined();
    expect(results.mode).toBe('smoke');
    expect(results.runs.every((r) => r.ok), JSON.stringify(results.runs.filter((r) => !r.ok))).toBe(true);
  });

  test('every workload and every contender is present', () => {
    expect(results.workloads.map((w) => w.id).sort()).toEqual([...WORKLOADS].sort());
    const seen = new Set(results.workloads.flatMap((w) => w.contenders));
    expect([...seen].sort()).toEqual([...CONTENDERS].sort());
    for (const w of results.workloads) {
      for (const c of w.contenders) {
        const s = results.summaries.find((x) => x.workload === w.id && x.contender === c);
        expect(s, `summary for ${w.id} × ${c}`).toBeDefined();
        expect(s!.runs).toBeGreaterThanOrEqual(1);
      }
    }
  });

  test('every figure is finite and positive', () => {
    for (const s of results.summaries) {
      for (const m of METRICS) {
        const v = s.metrics[m];
        for (const x of [v.median, v.min, v.max]) {
          expect(Number.isFinite(x) && x > 0, `${s.workload} × ${s.contender} ${m} = ${x}`).toBe(true);
        }
      }
      expect(Number.isFinite(s.cpuSecondsPerInstance) && s.cpuSecondsPerInstance > 0).toBe(true);
    }
    expect(results.ratios.length).toBeGreaterThan(0);
    for (const r of results.ratios) expect(Number.isFinite(r.value.median) && r.value.median > 0, r.id).toBe(true);
    expect(results.targets.length).toBeGreaterThanOrEqual(15);
    for (const t of results.targets) expect(Number.isFinite(t.value), t.description).toBe(true);
  });

  test('the report names the machine, every contender and workload, and has the cost model', () => {
    expect(results.machine.nproc).toBeGreaterThan(0);
    expect(results.machine.dcmtk).toMatch(/3\.\d/);
    expect(results.machine.ceph).toMatch(/ceph version/);
    for (const label of Object.values(CONTENDER_LABELS)) expect(markdown).toContain(label);
    for (const w of results.workloads) expect(markdown).toContain(w.label);
    for (const heading of ['## Targets', '## Machine', '## Method', '## Results', '## Cost model', '## Profile']) expect(markdown).toContain(heading);
  });
});
