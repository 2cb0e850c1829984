import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { DicomDestination, KubeObject } from '../../charts/operator/dicom-destination.ts';
import type { ControllerSettings } from '../../charts/operator/reconcile.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const SAMPLE_FILE = path.join(REPO_ROOT, 'charts', 'operator', 'examples', 'st-marys.yaml');

/** The controller's settings as the example environment's manifests set them. */
export const SETTINGS: ControllerSettings = {
  environmentName: 'example',
  listenerImage: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/dicom-listener:0.1.0',
  region: 'eu-west-1',
  defaultRoleArn: 'arn:aws:iam::111122223333:role/dicom-destination-example-listener',
  otlpEndpoint: 'http://adot-collector.observability.svc.cluster.local:4318',
};

/** A loosely typed object for assertions. */
export type Loose = Record<string, any>;

/** The committed sample DicomDestination, as a user writes it (no server-side defaults). */
export function sampleManifest(): Loose {
  return parse(readFileSync(SAMPLE_FILE, 'utf8')) as Loose;
}

/** The sample as the API server stores it: uid, generation and resourceVersion set; `patch` merged into the spec. */
export function sampleDestination(spec: Loose = {}, metadata: Loose = {}): DicomDestination {
  const manifest = sampleManifest();
  return {
    ...manifest,
    metadata: { ...manifest['metadata'], uid: '6f1c2a9e-0000-4000-8000-000000000001', generation: 1, resourceVersion: '100', ...metadata },
    spec: { ...manifest['spec'], ...spec },
  } as DicomDestination;
}

/** The smallest valid spec: one AE title, plain DICOM, one source range. */
export function minimalDestination(name = 'plain', spec: Loose = {}): DicomDestination {
  return {
    apiVersion: 'dicom.destination.io/v1alpha1',
    kind: 'DicomDestination',
    metadata: { name, namespace: 'dicom', uid: `uid-${name}`, generation: 1, resourceVersion: '1' },
    spec: {
      aeTitles: [{ aeTitle: 'PLAIN' }],
      storage: { url: 's3://dicom-bucket/plain' },
      tls: { mode: 'none' },
      loadBalancer: { sourceRanges: ['10.0.0.0/8'] },
      ...spec,
    },
  };
}

export function find(objects: readonly KubeObject[], kind: string, name: string): Loose {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found as Loose;
}

/** The environment variables of a rendered Deployment's first container. */
export function envOf(deployment: Loose): Record<string, string> {
  return Object.fromEntries(deployment['spec'].template.spec.containers[0].env.map((variable: { name: string; value: string }) => [variable.name, variable.value]));
}
