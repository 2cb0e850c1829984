import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { summarizeProfile } from '../../bench/lib/cpuprofile.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0, columnNumber: 0 });
const ROOT = 1;
const IDLE = 2;
const DIMSE = 3;
const MODULE_LOAD = 4;

/** A profile of `samples`, each [node, milliseconds it stands for]. */
function profile(samples: [node: number, ms: number][]) {
  return {
    nodes: [
      { id: ROOT, callFrame: frame('(root)', ''), children: [IDLE, DIMSE, MODULE_LOAD] },
      { id: IDLE, callFrame: frame('(idle)', '') },
      { id: DIMSE, callFrame: frame('_processPdu', 'file:///app/node_modules/dcmjs-dimse/build/dcmjs-dimse.min.js') },
      { id: MODULE_LOAD, callFrame: frame('wrapSafe', 'node:internal/modules/cjs/loader') },
    ],
    startTime: 0,
    endTime: samples.reduce((sum, [, ms]) => sum + ms * 1000, 0),
    samples: samples.map(([node]) => node),
    timeDeltas: samples.map(([, ms]) => ms * 1000),
  };
}

describe('CPU profile summaries', () => {
  let work: string;
  beforeAll(async () => {
    work = await makeWorkDir('cpuprofile-');
  });
  afterAll(async () => removeWorkDir(work));

  const summarize = (name: string, samples: [number, number][]) => {
    const file = join(work, `${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile(samples)));
    return summarizeProfile(file, 10);
  };

  test('given a warm-up instance, a pause and then the measured run, the steady state starts after the pause', () => {
    // GIVEN a warm-up that loads a module on first use, 60 ms idle, then a measured run of 100 ms
    const measured = Array.from({ length: 50 }, (): [number, number] => [DIMSE, 2]);
    const summary = summarize('warm-up', [[DIMSE, 1], [MODULE_LOAD, 30], [DIMSE, 1], [IDLE, 60], ...measured]);

    // THEN only the measured run counts, and the module load is not in it
    expect(summary.busyMs).toBe(100);
    expect(summary.idleMs).toBe(0);
    expect(summary.topSelf.map((row) => row.name).join(' ')).not.toContain('wrapSafe');
  });

  test('given no pause after the first instance, the steady state starts at the first DICOM frame', () => {
    // GIVEN work from start to end with only short pauses
    const summary = summarize('no-pause', [[MODULE_LOAD, 5], [DIMSE, 2], [IDLE, 5], [DIMSE, 2], [IDLE, 5], [DIMSE, 2]]);

    // THEN everything from the first DICOM frame counts: start-up before it does not
    expect(summary.busyMs).toBe(6);
    expect(summary.idleMs).toBe(10);
  });
});
