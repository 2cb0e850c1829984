// Scratch directories for tests. They live under the per-run dir from global
// setup, which global teardown removes even when a test forgets to clean up.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDir } from './context.ts';

/** A new empty directory named `<prefix>XXXXXX` under the run dir (or the OS temp dir outside the suite). */
export async function makeWorkDir(prefix = 'work-'): Promise<string> {
  return mkdtemp(join(runDir() ?? tmpdir(), prefix));
}

export async function removeWorkDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
