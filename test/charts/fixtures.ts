import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Chart, Testing } from 'cdk8s';
import { DestinationChart } from '../../charts/destination-chart.ts';
import { type EnvironmentConfig, validateEnvironment } from '../../charts/environment.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

/** A synthesized Kubernetes object, loosely typed for assertions. */
export type KubeObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [key: string]: any };

/** The committed example environment, parsed and validated. */
export function exampleEnvironment(overrides: Partial<EnvironmentConfig> = {}): EnvironmentConfig {
  const raw: unknown = JSON.parse(readFileSync(path.join(REPO_ROOT, 'charts', 'environments', 'example.json'), 'utf8'));
  return { ...validateEnvironment(raw), ...overrides };
}

/** Synthesizes the whole destination chart for one environment. */
export function synthDestination(environment: EnvironmentConfig = exampleEnvironment()): KubeObject[] {
  return Testing.synth(new DestinationChart(Testing.app(), environment)) as KubeObject[];
}

/** Runs `build` in a fresh chart and returns what it synthesizes. */
export function synthIn(build: (chart: Chart) => void): KubeObject[] {
  const chart = new Chart(Testing.app(), 'test');
  build(chart);
  return Testing.synth(chart) as KubeObject[];
}

export function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}
