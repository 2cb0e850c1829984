/** Where the rendered manifests live and which repository Argo CD pulls them from. */
export const GITOPS = {
  /** The repository Argo CD pulls from; replace with your fork's URL. */
  repoUrl: 'https://github.com/example-org/dicom-s3-destination.git',
  targetRevision: 'main',
  /** Repository-relative folders: environment configs in, manifests and Applications out. */
  environmentsPath: 'charts/environments',
  manifestsPath: 'k8s',
  applicationsPath: 'argocd',
} as const;
