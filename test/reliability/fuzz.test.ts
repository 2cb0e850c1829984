// Fuzzing the DICOM port: a bounded, seeded run of structure-aware mutations of valid
// conversations (test/support/fuzz/) against the real listener, while a well-behaved
// sender stores a study again and again alongside. FUZZ_SEED and FUZZ_CASES choose the run
// (scripts/reliability-long.sh runs long ones); the seed is printed, and any case can be
// replayed alone from (seed, index).
import { writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { storescu } from '../support/dcmtk.ts';
import { describeCase } from '../support/fuzz/mutator.ts';
import { runFuzz, type FuzzRunResult } from '../support/fuzz/runner.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';
import { buildStudy, isHealthy, recordFigures, sleep, type Sent } from './harness.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20260607);
const CASES = Number(process.env.FUZZ_CASES ?? 450);
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 6);
const MIB = 1024 * 1024;
const RSS_LIMIT = 250 * MIB;

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe(`fuzzing the DICOM port (seed ${SEED}, ${CASES} cases)`, () => {
  let work: string;
  let store: string;
  let listener: ListenerProcess;
  let study: Sent[];
  let run: FuzzRunResult;
  let died: { code: number | null; signal: string | null } | undefined;
  const wellBehaved: { statuses: (number | null)[]; ms: number }[] = [];
  let fuzzMs = 0;

  beforeAll(async () => {
    work = await makeWorkDir('rel-fuzz-');
    store = join(work, 'store');
    study = await buildStudy(join(work, 'study'), { small: 3 });
    listener = await startListener({
      STORAGE_URL: `file://${store}`,
      DICOM_ARTIM_TIMEOUT_SECONDS: '2',
      DICOM_IDLE_TIMEOUT_SECONDS: '3',
      DICOM_STALL_TIMEOUT_SECONDS: '3',
      // A case that wedges an association must not hold the teardown for the default 60 s.
      DRAIN_TIMEOUT_SECONDS: '2',
    });
    void listener.exited.then((e) => {
      died = e;
    });
    console.log(`[fuzz] seed=${SEED} cases=${CASES} concurrency=${CONCURRENCY} (replay: FUZZ_SEED=${SEED} FUZZ_CASES=${CASES})`);

    // GIVEN a sender that keeps storing a study while the fuzzer runs
    let fuzzing = true;
    const sender = (async () => {
      while (fuzzing && !died) {
        const started = Date.now();
        const r = await storescu('127.0.0.1', listener.port, study.map((s) => s.path), { aec: 'DICOMS3', noHalt: true, timeoutMs: 60_000 });
        wellBehaved.push({ statuses: r.files.map((f) => f.status), ms: Date.now() - started });
        await sleep(300);
      }
    })();
    // WHEN the fuzz cases are played, CONCURRENCY connections at a time
    const started = Date.now();
    run = await runFuzz({ port: listener.port, seed: SEED, cases: CASES, concurrency: CONCURRENCY, keepGoing: () => !died });
    fuzzMs = Date.now() - started;
    fuzzing = false;
    await sender;
    if (died) {
      const report = join(work, '..', `fuzz-crash-seed-${SEED}.txt`);
      writeFileSync(report, [`listener exited ${JSON.stringify(died)}`, ...run.inFlight.map(describeCase), listener.stderr()].join('\n'));
      console.log(`[fuzz] LISTENER DIED; cases in flight:\n${run.inFlight.map(describeCase).join('\n')}\nstderr:\n${listener.stderr().slice(-4000)}`);
    }
  }, Math.max(180_000, CASES * 300));

  afterAll(async () => {
    await listener?.stop().catch(() => undefined);
    await removeWorkDir(work);
  });

  test('the listener process stays up through every case', () => {
    // GIVEN/WHEN: the run in beforeAll
    // THEN it never exited, and every case was played
    expect(died, run.inFlight.map(describeCase).join('\n')).toBeUndefined();
    expect(run.outcomes.length).toBe(CASES);
  });

  test(`its memory stays bounded (peak RSS < ${RSS_LIMIT / MIB} MB)`, () => {
    // GIVEN/WHEN: the run in beforeAll; THEN the peak resident set stayed under the bound
    expect(listener.peakRssBytes()).toBeGreaterThan(0);
    expect(listener.peakRssBytes()).toBeLessThan(RSS_LIMIT);
  });

  test('the well-behaved sender running alongside got Success for every instance, every time', () => {
    // GIVEN/WHEN: the sender loop in beforeAll; THEN it ran several times, all Success
    expect(wellBehaved.length).toBeGreaterThanOrEqual(3);
    expect(wellBehaved.map((w) => w.statuses)).toEqual(wellBehaved.map(() => study.map(() => 0)));
  });

  test('afterwards it is healthy, holds no association, no instance in flight and no partial file, and a new association stores', async () => {
    // GIVEN the run is over, WHEN the idle and stall timeouts (3 s) have reaped what the cases left half-open
    await sleep(4_000);
    const text = await (await fetch(`http://127.0.0.1:${listener.opsPort}/metrics`)).text();
    const partials = (await readdir(store, { recursive: true }).catch(() => [] as string[])).map(String).filter((n) => n.endsWith('.partial'));
    const endings: Record<string, number> = {};
    for (const o of run.outcomes) endings[o.ending] = (endings[o.ending] ?? 0) + 1;
    const kinds: Record<string, number> = {};
    for (const o of run.outcomes) kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
    const events: Record<string, number> = {};
    for (const l of listener.logs) events[String(l['event'])] = (events[String(l['event'])] ?? 0) + 1;
    const after = await storescu('127.0.0.1', listener.port, study.map((s) => s.path), { aec: 'DICOMS3' });
    recordFigures({
      scenario: 'fuzz',
      seed: SEED,
      cases: run.outcomes.length,
      seconds: Number((fuzzMs / 1000).toFixed(1)),
      peakRssMb: Math.round(listener.peakRssBytes() / MIB),
      wellBehavedRounds: wellBehaved.length,
      wellBehavedMaxMs: Math.max(...wellBehaved.map((w) => w.ms)),
      associationsActiveAfter: metric(text, 'dicom_associations_active'),
      partialFilesLeft: partials.length,
      unhandledRejections: events['unhandled-rejection'] ?? 0,
      kinds,
      endings,
    });
    // THEN it is healthy, holds nothing in flight, left no partial file, and stores a new study
    expect(await isHealthy(listener)).toBe(true);
    expect(metric(text, 'dicom_bytes_in_flight')).toBe(0);
    expect(metric(text, 'dicom_associations_active')).toBe(0);
    expect(partials).toEqual([]);
    expect(after.files.map((f) => f.status)).toEqual(study.map(() => 0));
  });
});
