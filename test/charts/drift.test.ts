import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { GITOPS } from '../../charts/gitops.ts';
import { loadEnvironments } from '../../charts/load-environments.ts';
import { synthesize } from '../../charts/synth.ts';
import { REPO_ROOT } from './fixtures.ts';
import { readManifestFiles } from './manifest-files.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'charts-drift-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Synthesizes exactly what `npm run synth` does, into fresh folders. */
function synthesizeFresh(name: string): { manifests: string; applications: string } {
  const manifests = path.join(scratch, name, 'k8s');
  const applications = path.join(scratch, name, 'argocd');
  synthesize({
    environments: loadEnvironments(path.join(REPO_ROOT, GITOPS.environmentsPath)),
    manifestsDir: manifests,
    argocdDir: applications,
    manifestsRepoPath: GITOPS.manifestsPath,
    repoUrl: GITOPS.repoUrl,
    targetRevision: GITOPS.targetRevision,
  });
  return { manifests, applications };
}

function contents(dir: string): Record<string, string> {
  return Object.fromEntries(readManifestFiles(dir).map((file) => [file.file, file.text]));
}

describe('synthesis', () => {
  const fresh = synthesizeFresh('first');

  test('k8s/ is exactly what charts/ synthesizes (run `npm run synth` and commit if not)', () => {
    // GIVEN the committed manifests and a fresh synthesis WHEN compared file by file THEN they are identical
    expect(contents(path.join(REPO_ROOT, GITOPS.manifestsPath))).toEqual(contents(fresh.manifests));
  });

  test('argocd/ is exactly what charts/ synthesizes', () => {
    expect(contents(path.join(REPO_ROOT, GITOPS.applicationsPath))).toEqual(contents(fresh.applications));
  });

  test('is deterministic: a second synthesis is byte-identical', () => {
    // GIVEN a second synthesis into another folder WHEN compared THEN nothing differs
    const again = synthesizeFresh('second');
    expect(contents(again.manifests)).toEqual(contents(fresh.manifests));
    expect(contents(again.applications)).toEqual(contents(fresh.applications));
  });

  test('cdk8s.yaml runs the charts entry and writes to k8s/', () => {
    // GIVEN the cdk8s CLI config THEN `npm run synth` runs charts/main.ts into k8s/
    const config = parse(readFileSync(path.join(REPO_ROOT, 'cdk8s.yaml'), 'utf8'));
    expect(config).toMatchObject({ app: 'node charts/main.ts', output: GITOPS.manifestsPath });
  });
});
