/**
 * The controller image, checked without Docker (none runs here): the Dockerfile's rules, and the
 * one file it ships, built exactly as its build stage builds it and run from a folder with no
 * node_modules against the in-process API STAND-IN (not a real API server).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { bundleController } from '../../charts/operator/bundle.ts';
import { ApiStandIn, eventually } from './api-stand-in.ts';
import { REPO_ROOT, sampleManifest, SETTINGS } from './fixtures.ts';
import { readManifestFiles } from '../charts/manifest-files.ts';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

function parseDockerfile(text: string): Instruction[] {
  return text.split('\n').filter((line) => !/^\s*#/.test(line)).join('\n').replace(/\\\n/g, ' ')
    .split('\n').map((line) => line.trim()).filter((line) => line !== '')
    .map((line) => ({ keyword: line.slice(0, line.indexOf(' ')).toUpperCase(), args: line.slice(line.indexOf(' ') + 1).trim() }));
}

const dockerfile = parseDockerfile(readFileSync(path.join(REPO_ROOT, 'charts', 'operator', 'Dockerfile'), 'utf8'));
const listenerDockerfile = parseDockerfile(readFileSync(path.join(REPO_ROOT, 'listener', 'Dockerfile'), 'utf8'));
const finalStage = dockerfile.slice(dockerfile.findLastIndex((instruction) => instruction.keyword === 'FROM'));
const buildStage = dockerfile.slice(0, dockerfile.findLastIndex((instruction) => instruction.keyword === 'FROM'));
const arg = (instructions: Instruction[], name: string) => instructions.find((instruction) => instruction.keyword === 'ARG' && instruction.args.startsWith(`${name}=`))?.args;

describe('charts/operator/Dockerfile', () => {
  test('builds on the listener\'s pinned Node base', () => {
    expect(arg(dockerfile, 'NODE_IMAGE')).toMatch(/^NODE_IMAGE=node:[\d.]+-bookworm-slim@sha256:[0-9a-f]{64}$/);
    expect(arg(dockerfile, 'NODE_IMAGE')).toBe(arg(listenerDockerfile, 'NODE_IMAGE'));
  });

  test('installs exactly what is locked, then bundles the controller with charts/operator/bundle.ts', () => {
    expect(buildStage.filter((i) => i.keyword === 'RUN').map((i) => i.args)).toEqual([
      'npm ci --ignore-scripts --no-audit --no-fund',
      'node charts/operator/bundle.ts dist/controller.mjs',
    ]);
  });

  test('runs the bundle as the numeric non-root user the Deployment expects, under tini', () => {
    const deployment = readManifestFiles(path.join(REPO_ROOT, 'k8s', 'example'))
      .flatMap((file) => file.objects).find((object) => object.kind === 'Deployment' && object.metadata.name === 'dicom-destination-controller');
    const user = finalStage.find((i) => i.keyword === 'USER')?.args;
    expect(user).toBe('1000:1000');
    expect(deployment?.['spec'].template.spec.securityContext).toMatchObject({ runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true });
    expect(JSON.parse(finalStage.find((i) => i.keyword === 'ENTRYPOINT')?.args ?? 'null')).toEqual(['/usr/bin/tini', '--']);
    expect(JSON.parse(finalStage.find((i) => i.keyword === 'CMD')?.args ?? 'null')).toEqual(['node', 'controller.mjs']);
    expect(finalStage.find((i) => i.keyword === 'EXPOSE')?.args).toBe('8080');
  });

  test('pins its apt packages, and uses no ADD and no :latest', () => {
    const installs = finalStage.filter((i) => i.keyword === 'RUN').map((i) => /apt-get install [^&]*/.exec(i.args)?.[0] ?? '').join(' ');
    const packages = installs.split(/\s+/).filter((word) => word !== '' && !word.startsWith('-') && !['apt-get', 'install'].includes(word));
    expect(packages).toEqual(['tini=0.19.0-1*']);
    expect(dockerfile.filter((i) => i.keyword === 'ADD' || /:latest\b/.test(i.args))).toEqual([]);
  });

  test('its build context allow-list holds every file it copies, and no environment config', () => {
    const ignore = readFileSync(path.join(REPO_ROOT, 'charts', 'operator', 'Dockerfile.dockerignore'), 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    const allowed = ignore.filter((line) => line.startsWith('!')).map((line) => line.slice(1).replace(/\/$/, ''));
    const copied = dockerfile.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(ignore[0]).toBe('*');
    expect(copied.filter((source) => !allowed.some((entry) => source.replace(/\/$/, '') === entry || source.startsWith(`${entry}/`)))).toEqual([]);
    expect(ignore).toContain('charts/environments/');
  });
});

describe('the controller bundle', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'controller-bundle-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('is one file that runs without node_modules and reconciles', async () => {
    // GIVEN the bundle built as the image's build stage builds it, alone in a folder
    const outfile = path.join(scratch, 'image', 'controller.mjs');
    await bundleController(outfile);
    // AND a stand-in API with a destination, and a kubeconfig for it
    const api = await ApiStandIn.start();
    api.create(sampleManifest());
    const kubeconfig = path.join(scratch, 'kubeconfig');
    writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{ name: s, cluster: { server: "${api.url}", insecure-skip-tls-verify: true } }]\n`
      + 'users: [{ name: u, user: { token: t } }]\ncontexts: [{ name: c, context: { cluster: s, user: u } }]\ncurrent-context: c\n');
    // WHEN it runs as the image runs it (node controller.mjs in its own folder)
    const child = spawn(process.execPath, ['controller.mjs'], {
      cwd: path.dirname(outfile),
      env: {
        PATH: process.env['PATH'] ?? '', HOME: scratch, KUBECONFIG: kubeconfig, OPS_PORT: '0',
        WATCH_NAMESPACE: 'dicom', ENVIRONMENT_NAME: 'example', LISTENER_IMAGE: SETTINGS.listenerImage, AWS_REGION: 'eu-west-1', LISTENER_ROLE_ARN: SETTINGS.defaultRoleArn ?? '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // THEN it reconciles the destination, and stops cleanly on SIGTERM
      await eventually(() => api.get('apps/v1', 'Deployment', 'dicom', 'st-marys'), 15_000, `the bundled controller to apply (stderr: ${stderr})`);
      await eventually(() => api.get('dicom.destination.io/v1alpha1', 'DicomDestination', 'dicom', 'st-marys')?.['status'], 5000, 'a status');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
    } finally {
      child.kill('SIGKILL');
      await api.close();
    }
  });
});
