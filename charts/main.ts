import path from 'node:path';
import { GITOPS } from './gitops.ts';
import { loadEnvironments } from './load-environments.ts';
import { synthesize } from './synth.ts';

const root = path.resolve(import.meta.dirname, '..');

synthesize({
  environments: loadEnvironments(path.join(root, GITOPS.environmentsPath)),
  // `cdk8s synth` sets CDK8S_OUTDIR from cdk8s.yaml's `output` (k8s), or from --output.
  manifestsDir: process.env['CDK8S_OUTDIR'] ?? path.join(root, GITOPS.manifestsPath),
  argocdDir: path.join(root, GITOPS.applicationsPath),
  manifestsRepoPath: GITOPS.manifestsPath,
  repoUrl: GITOPS.repoUrl,
  targetRevision: GITOPS.targetRevision,
});
