import { ApiObject, App, Chart, YamlOutputType } from 'cdk8s';
import { ArgoCdApplication } from './argocd.ts';
import { DestinationChart } from './destination-chart.ts';
import type { EnvironmentConfig } from './environment.ts';

export interface SynthesizeOptions {
  readonly environments: readonly EnvironmentConfig[];
  /** Where manifests go, one folder per environment (`<manifestsDir>/<name>/<Kind>.<name>.yaml`). */
  readonly manifestsDir: string;
  /** Where the Argo CD Applications go (`<argocdDir>/<name>.yaml`); outside `manifestsDir`, so Argo CD never syncs them. */
  readonly argocdDir: string;
  /** `manifestsDir` relative to the repository root, as Argo CD sees it. */
  readonly manifestsRepoPath: string;
  readonly repoUrl: string;
  readonly targetRevision: string;
}

/** Renders every environment's manifests and its Argo CD Application. */
export function synthesize(options: SynthesizeOptions): void {
  // One file per object keeps review diffs small and lets `kubectl apply -f <dir>` take a folder.
  const manifests = new App({
    outdir: options.manifestsDir,
    yamlOutputType: YamlOutputType.FOLDER_PER_CHART_FILE_PER_RESOURCE,
    outputFileExtension: '.yaml',
  });
  const applications = new App({ outdir: options.argocdDir, yamlOutputType: YamlOutputType.FILE_PER_CHART, outputFileExtension: '.yaml' });
  for (const environment of options.environments) {
    const chart = new DestinationChart(manifests, environment);
    assertUniqueFileNames(chart);
    new ArgoCdApplication(new Chart(applications, environment.name), 'Application', {
      name: `dicom-destination-${environment.name}`,
      repoUrl: options.repoUrl,
      targetRevision: options.targetRevision,
      path: `${options.manifestsRepoPath}/${environment.name}`,
    });
  }
  manifests.synth();
  applications.synth();
}

/** cdk8s names each file `<Kind>.<name>`; two objects sharing both would silently overwrite each other. */
function assertUniqueFileNames(chart: Chart): void {
  const seen = new Set<string>();
  for (const object of chart.node.findAll().filter((node) => node instanceof ApiObject)) {
    const file = `${object.kind}.${object.name}`;
    if (seen.has(file)) throw new Error(`chart ${chart.node.id}: two objects would both be written to ${file}.yaml`);
    seen.add(file);
  }
}
