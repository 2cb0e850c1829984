import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REPO_ROOT } from './fixtures.ts';

type Lockfile = { packages: Record<string, { dev?: boolean; version?: string }> };

// The image's dependency stage, replayed without Docker: the same files, the same npm ci.
const bundle = mkdtempSync(path.join(tmpdir(), 'production-bundle-'));
let listener: ChildProcess | undefined;

beforeAll(async () => {
  for (const file of ['package.json', 'package-lock.json', '.npmrc']) {
    cpSync(path.join(REPO_ROOT, file), path.join(bundle, file), { recursive: true });
  }
  // The image's build stage: the listener compiled to JavaScript, and only that is shipped.
  await promisify(execFile)(path.join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--outDir', path.join(bundle, 'dist')], { cwd: REPO_ROOT });
  // The npm cache is warm; --prefer-offline keeps the run off the network where it can.
  await promisify(execFile)('npm', ['ci', '--omit=dev', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: bundle });
}, 180_000);

afterAll(() => {
  listener?.kill('SIGKILL');
  rmSync(bundle, { recursive: true, force: true });
});

describe('the production bundle (npm ci --omit=dev)', () => {
  test('installs no devDependency the production dependencies do not themselves need', () => {
    // GIVEN the declared devDependencies and the lockfile's view of who needs what
    const { devDependencies } = JSON.parse(readFileSync(path.join(bundle, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const lock = JSON.parse(readFileSync(path.join(bundle, 'package-lock.json'), 'utf8')) as Lockfile;
    // WHEN the installed tree is inspected
    const installed = Object.keys(devDependencies).filter((name) => existsSync(path.join(bundle, 'node_modules', name)));
    // THEN only devDependencies that are also production transitive dependencies are there (e.g. @types/node, via protobufjs)
    expect(installed.filter((name) => lock.packages[`node_modules/${name}`]?.dev === true)).toEqual([]);
    expect(existsSync(path.join(bundle, 'node_modules', 'node'))).toBe(false);
    expect(existsSync(path.join(bundle, 'node_modules', 'typescript'))).toBe(false);
  });

  test('installs nothing the lockfile marks as dev-only', () => {
    const lock = JSON.parse(readFileSync(path.join(bundle, 'package-lock.json'), 'utf8')) as Lockfile;
    const hidden = JSON.parse(readFileSync(path.join(bundle, 'node_modules', '.package-lock.json'), 'utf8')) as Lockfile;
    expect(Object.keys(hidden.packages).filter((key) => lock.packages[key]?.dev === true)).toEqual([]);
  });

  test('starts the listener with this Node, and exits 0 after draining on SIGTERM', async () => {
    // GIVEN the listener started from the bundle on ephemeral loopback ports
    const child = spawn(process.execPath, ['dist/listener/main.js'], {
      cwd: bundle,
      env: {
        PATH: process.env['PATH'],
        DICOM_PORT: '0', OPS_PORT: '0', DICOM_HOST: '127.0.0.1', OPS_HOST: '127.0.0.1',
        STORAGE_URL: `file://${path.join(bundle, 'store')}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    listener = child;
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    // WHEN it reports that it listens
    const listening = await new Promise<boolean>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        try {
          if ((JSON.parse(line) as { event?: string }).event === 'listening') resolve(true);
        } catch { /* not a log line */ }
      });
      void exited.then(() => resolve(false));
    });
    expect(listening, stderr).toBe(true);
    // THEN SIGTERM drains it to a clean exit (dying of the signal itself means no handler was installed yet)
    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
  }, 30_000);
});
