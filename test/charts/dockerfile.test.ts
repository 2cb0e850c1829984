import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from './fixtures.ts';

// Debian bookworm has no hadolint package and there is no Docker engine here, so the rules that
// matter for this image are checked on the parsed Dockerfile instead.

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions of a Dockerfile: comments dropped, continuation lines joined. */
function parseDockerfile(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return logical.map((line) => {
    const space = line.indexOf(' ');
    return { keyword: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() };
  });
}

const instructions = parseDockerfile(readFileSync(path.join(REPO_ROOT, 'listener', 'Dockerfile'), 'utf8'));
const firstFrom = instructions.findIndex((instruction) => instruction.keyword === 'FROM');
const globalArgs = Object.fromEntries(instructions.slice(0, firstFrom)
  .filter((instruction) => instruction.keyword === 'ARG')
  .map((instruction) => instruction.args.split('=') as [string, string]));
const lastFrom = instructions.findLastIndex((instruction) => instruction.keyword === 'FROM');
const finalStage = instructions.slice(lastFrom);
const baseImages = instructions
  .filter((instruction) => instruction.keyword === 'FROM')
  .map((instruction) => (instruction.args.split(/\s+/)[0] ?? '').replace(/\$\{(\w+)\}/g, (_, name: string) => globalArgs[name] ?? ''));
const execForm = (keyword: string) => JSON.parse(finalStage.find((instruction) => instruction.keyword === keyword)?.args ?? 'null') as string[] | null;

describe('listener/Dockerfile', () => {
  test('builds in stages on a Node 24 bookworm base pinned by tag and by digest', () => {
    // GIVEN every FROM, with build arguments substituted
    // THEN there are at least two stages and each base is node:24.x-bookworm-slim@sha256:<digest>
    expect(baseImages.length).toBeGreaterThanOrEqual(2);
    for (const image of baseImages) {
      expect(image).toMatch(/^node:24\.\d+\.\d+-bookworm-slim@sha256:[0-9a-f]{64}$/);
    }
  });

  test('installs production dependencies only, exactly as locked', () => {
    // GIVEN the RUN instructions THEN dependencies come from npm ci --omit=dev, and nothing runs npm install
    const runs = instructions.filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.args);
    expect(runs.some((run) => /\bnpm ci\b.*--omit=dev/.test(run))).toBe(true);
    expect(runs.filter((run) => /\bnpm (install|i)\b/.test(run))).toEqual([]);
  });

  test('runs as a numeric non-root user', () => {
    // GIVEN the final stage's USER THEN it is a uid:gid other than root
    const user = finalStage.filter((instruction) => instruction.keyword === 'USER').at(-1)?.args;
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
  });

  test('makes tini PID 1, so SIGTERM reaches node and the listener drains', () => {
    // GIVEN the final stage THEN tini is installed from Debian and is the exec-form entrypoint
    expect(finalStage.some((instruction) => instruction.keyword === 'RUN' && /apt-get install[^&]*\btini\b/.test(instruction.args))).toBe(true);
    expect(execForm('ENTRYPOINT')).toEqual(['/usr/bin/tini', '--']);
  });

  test('compiles the listener in a build stage and runs the compiled JavaScript', () => {
    expect(instructions.some((instruction) => instruction.keyword === 'RUN' && /tsc -p tsconfig\.build\.json/.test(instruction.args))).toBe(true);
    expect(execForm('CMD')).toEqual(['node', '--max-semi-space-size=1', 'dist/listener/main.js']);
  });

  test('pins, trims and cleans its apt installs', () => {
    // GIVEN every apt-get install THEN packages are version-pinned, without recommends, and the lists removed
    for (const run of instructions.filter((instruction) => instruction.keyword === 'RUN' && instruction.args.includes('apt-get install'))) {
      expect(run.args).toContain('--no-install-recommends');
      expect(run.args).toContain('rm -rf /var/lib/apt/lists/*');
      const packages = /apt-get install ((?:\S+\s*)+?)(&&|$)/.exec(run.args)?.[1]?.split(/\s+/).filter((word) => word !== '' && !word.startsWith('-')) ?? [];
      expect(packages.length).toBeGreaterThan(0);
      expect(packages.filter((name) => !name.includes('='))).toEqual([]);
    }
  });

  test('uses neither ADD, :latest nor a HEALTHCHECK (Kubernetes probes own health)', () => {
    expect(instructions.filter((instruction) => instruction.keyword === 'ADD' || instruction.keyword === 'HEALTHCHECK')).toEqual([]);
    expect(instructions.filter((instruction) => /:latest\b/.test(instruction.args))).toEqual([]);
  });

  test('exposes the DICOM, DICOM TLS and ops ports', () => {
    expect(finalStage.find((instruction) => instruction.keyword === 'EXPOSE')?.args.split(/\s+/)).toEqual(['11112', '2762', '8080']);
  });
});

describe('.dockerignore', () => {
  const lines = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));

  test('excludes everything, then allows only what the image copies', () => {
    // GIVEN the ignore file THEN it starts from "*" and re-includes the image inputs only
    expect(lines[0]).toBe('*');
    expect(lines.filter((line) => line.startsWith('!')).sort()).toEqual(['!.npmrc', '!listener/', '!package-lock.json', '!package.json', '!tsconfig.build.json', '!tsconfig.json']);
  });

  test('lets in every file the Dockerfile copies from the context', () => {
    // GIVEN the COPY sources that do not come from another stage
    const sources = instructions
      .filter((instruction) => instruction.keyword === 'COPY' && !instruction.args.startsWith('--from'))
      .flatMap((instruction) => instruction.args.split(/\s+/).slice(0, -1));
    // THEN each is re-included by the ignore file
    const allowed = lines.filter((line) => line.startsWith('!')).map((line) => line.slice(1).replace(/\/$/, ''));
    expect(sources.filter((source) => !allowed.includes(source.replace(/\/$/, '')))).toEqual([]);
  });
});
