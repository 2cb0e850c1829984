import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ArgoCdApplication, type ArgoCdApplicationProps } from '../../charts/argocd.ts';
import { GITOPS } from '../../charts/gitops.ts';
import { loadEnvironments } from '../../charts/load-environments.ts';
import { type KubeObject, REPO_ROOT, synthIn } from './fixtures.ts';
import { readManifestFiles } from './manifest-files.ts';

const environments = loadEnvironments(path.join(REPO_ROOT, GITOPS.environmentsPath));
const applications = readManifestFiles(path.join(REPO_ROOT, GITOPS.applicationsPath));

/**
 * The Application CRD is not in kubernetes-models, so its shape is checked by hand: the fields
 * this repository sets, at each level, from argoproj.io/v1alpha1 Application.
 */
const ALLOWED_KEYS: Record<string, string[]> = {
  '': ['apiVersion', 'kind', 'metadata', 'spec'],
  metadata: ['name', 'namespace', 'labels', 'annotations', 'finalizers'],
  spec: ['project', 'source', 'destination', 'syncPolicy', 'ignoreDifferences', 'revisionHistoryLimit'],
  'spec.source': ['repoURL', 'targetRevision', 'path', 'directory'],
  'spec.source.directory': ['recurse', 'include', 'exclude', 'jsonnet'],
  'spec.destination': ['server', 'name', 'namespace'],
  'spec.syncPolicy': ['automated', 'syncOptions', 'retry', 'managedNamespaceMetadata'],
  'spec.syncPolicy.automated': ['prune', 'selfHeal', 'allowEmpty', 'enabled'],
};

function unknownKeys(value: unknown, at = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const allowed = ALLOWED_KEYS[at];
  if (allowed === undefined) return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const where = at === '' ? key : `${at}.${key}`;
    return allowed.includes(key) ? unknownKeys(child, where) : [where];
  });
}

describe('Argo CD Applications in argocd/', () => {
  test('one per environment, and nothing else', () => {
    expect(applications.map((file) => file.file)).toEqual(environments.map((environment) => `${environment.name}.yaml`));
  });

  test.each(environments.map((environment) => [environment.name]))('%s syncs its k8s/ folder as a plain directory, server-side', (name) => {
    // GIVEN the environment's Application
    const application = applications.find((file) => file.file === `${name}.yaml`)?.objects[0] as KubeObject;
    // THEN it is a well-formed Application for k8s/<name>
    expect(unknownKeys(application)).toEqual([]);
    expect(application).toMatchObject({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: `dicom-destination-${name}`, namespace: 'argocd' },
      spec: {
        project: 'default',
        source: { repoURL: GITOPS.repoUrl, targetRevision: GITOPS.targetRevision, path: `${GITOPS.manifestsPath}/${name}`, directory: { recurse: false, include: '*.yaml' } },
        destination: { server: 'https://kubernetes.default.svc' },
      },
    });
    expect(application.spec.syncPolicy.syncOptions).toContain('ServerSideApply=true');
  });

  test('live outside the synced folders, so Argo CD never manages its own Application', () => {
    expect(path.relative(GITOPS.manifestsPath, GITOPS.applicationsPath)).toMatch(/^\.\./);
  });

  test.each([
    [{ path: '/k8s/example' }, /path must be relative to the repository root/],
    [{ path: 'k8s/../secrets' }, /path must be relative to the repository root/],
    [{ repoUrl: 'ftp://example.org/repo' }, /repoUrl must be an https, ssh or git@ URL/],
  ])('rejects %j', (overrides, message) => {
    const props: ArgoCdApplicationProps = { name: 'app', repoUrl: 'https://example.org/repo.git', path: 'k8s/example', ...overrides };
    expect(() => synthIn((chart) => new ArgoCdApplication(chart, 'app', props))).toThrow(message);
  });
});
