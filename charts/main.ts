import path from 'node:path';
import { loadEnvironments } from './load-environments.ts';
import { synthesize } from './synth.ts';

// The cdk8s CLI runs this from the repository root with CDK8S_OUTDIR set from cdk8s.yaml's `output`.
const root = path.resolve(import.meta.dirname, '..');
const manifestsRepoPath = 'k8s';

synthesize({
  environments: loadEnvironments(path.join(root, 'charts', 'environments')),
  manifestsDir: process.env['CDK8S_OUTDIR'] ?? path.join(root, manifestsRepoPath),
  argocdDir: path.join(root, 'argocd'),
  manifestsRepoPath,
  // The repository Argo CD pulls from; replace with your fork's URL.
  repoUrl: 'https://github.com/example-org/dicom-s3-destination.git',
  targetRevision: 'main',
});
