import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { fargateResources } from '../../charts/fargate-size.ts';
import { SYNC_WAVE_ANNOTATION } from '../../charts/sync-wave.ts';
import { exampleEnvironment, find, type KubeObject, REPO_ROOT, synthDestination } from './fixtures.ts';
import { readManifestFiles } from './manifest-files.ts';
import { unknownFields } from './unknown-fields.ts';
import { KUBE_MODELS } from './kube-models.ts';

// The rules below hold for every environment rendered into k8s/, so a new environment is checked too.
const files = readManifestFiles(path.join(REPO_ROOT, 'k8s'));
const environments = [...new Set(files.map((file) => file.file.split(path.sep)[0] ?? ''))];
const objects = files.flatMap((file) => file.objects);
const inEnvironment = (environment: string) => files.filter((file) => file.file.startsWith(`${environment}${path.sep}`)).flatMap((file) => file.objects);


async function schemaValidate(object: KubeObject): Promise<void> {
  const model = KUBE_MODELS[`${object.apiVersion}/${object.kind}`];
  if (model === undefined) throw new Error(`no schema model registered for ${object.apiVersion} ${object.kind}`);
  new (await model())(object).validate();
}

const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'ReplicaSet', 'Job', 'CronJob', 'DaemonSet', 'Pod'];
type PodSpec = KubeObject['spec'];
const podSpecs = objects
  .filter((object) => WORKLOAD_KINDS.includes(object.kind))
  .map((object) => ({ id: `${object.kind}/${object.metadata.name}`, spec: (object.kind === 'Pod' ? object.spec : object.spec.template.spec) as PodSpec }));
const containersOf = (spec: PodSpec): { name: string; [key: string]: any }[] => [...(spec.initContainers ?? []), ...spec.containers];

describe('k8s/ manifests', () => {
  test('hold one object per file, for at least one environment', () => {
    // GIVEN the committed folder THEN every file holds exactly one object
    expect(environments.length).toBeGreaterThan(0);
    expect(files.every((file) => file.objects.length === 1)).toBe(true);
  });

  test.each(files.map((file) => [file.file, file.objects[0] as KubeObject]))('%s is valid against the Kubernetes 1.36 schema', async (_file, object) => {
    // GIVEN an object WHEN validated by its kubernetes-models class THEN the schema accepts it
    await expect(schemaValidate(object)).resolves.toBeUndefined();
  });

  test.each([
    ['none', { mode: 'none' as const }],
    ['nlb', { mode: 'nlb' as const, certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/12345678-1234-1234-1234-123456789012' }],
  ])('with TLS mode %s, the chart is as valid as the committed example', async (_mode, tls) => {
    // GIVEN the example rendered with another TLS mode
    for (const object of synthDestination(exampleEnvironment({ tls }))) {
      // THEN every object passes the schema and has no unknown field
      await expect(schemaValidate(object)).resolves.toBeUndefined();
      expect(unknownFields(object)).toEqual([]);
    }
  });

  test('the schema check catches a wrong type', async () => {
    // GIVEN a Deployment whose container port is a string
    const deployment = structuredClone(objects.find((object) => object.kind === 'Deployment') as KubeObject);
    deployment.spec.template.spec.containers[0].ports[0].containerPort = 'eleven';
    // WHEN validated THEN it is rejected at that path
    await expect(schemaValidate(deployment)).rejects.toThrow(/containerPort must be integer/);
  });

  test.each(files.map((file) => [file.file, file.objects[0] as KubeObject]))('%s has no field the API would drop', (_file, object) => {
    expect(unknownFields(object)).toEqual([]);
  });

  test('the unknown-field check catches a misspelt field', () => {
    // GIVEN a Deployment with a typo in its spec
    const deployment = structuredClone(objects.find((object) => object.kind === 'Deployment') as KubeObject);
    deployment.spec.strategyy = deployment.spec.strategy;
    // WHEN checked THEN the typo is reported by path
    expect(unknownFields(deployment)).toEqual(['.spec.strategyy']);
  });
});

describe('Fargate rules over k8s/', () => {
  test('no DaemonSet (Fargate runs none)', () => {
    expect(objects.filter((object) => object.kind === 'DaemonSet')).toEqual([]);
  });

  test.each(podSpecs.map(({ id, spec }) => [id, spec]))('%s uses no host network, namespaces, ports or paths, and is not privileged', (_id, spec) => {
    // GIVEN a pod spec THEN nothing reaches the host
    expect([spec.hostNetwork, spec.hostPID, spec.hostIPC].filter(Boolean)).toEqual([]);
    expect((spec.volumes ?? []).filter((volume: { hostPath?: unknown }) => volume.hostPath !== undefined)).toEqual([]);
    for (const container of containersOf(spec)) {
      expect((container['ports'] ?? []).filter((port: { hostPort?: number }) => port.hostPort !== undefined), container.name).toEqual([]);
      expect(container['securityContext']?.privileged ?? false, container.name).toBe(false);
      expect(container['securityContext']?.allowPrivilegeEscalation, container.name).toBe(false);
    }
  });

  test.each(podSpecs.map(({ id, spec }) => [id, spec]))('%s requests exactly its limits, and exactly one Fargate size', (_id, spec) => {
    for (const container of containersOf(spec)) {
      // GIVEN a container's resources
      const { requests, limits } = container['resources'];
      // THEN they are equal and, with Fargate's reservation added back, a valid combination
      expect(requests, container.name).toEqual(limits);
      const vcpu = Number(/^(\d+)m$/.exec(requests.cpu)?.[1]) / 1000;
      const gib = (Number(/^(\d+)Mi$/.exec(requests.memory)?.[1]) + 256) / 1024;
      expect(fargateResources(container.name, vcpu, gib)).toEqual({ cpu: requests.cpu, memory: requests.memory });
    }
  });
});

describe('what the schema does not check, over k8s/', () => {
  test.each(objects.map((object) => [`${object.kind}/${object.metadata.name}`, object]))('%s carries only string annotations and a sync wave', (_id, object) => {
    // GIVEN an object's annotations
    const annotations = object.metadata.annotations ?? {};
    // THEN every value is a string and the wave is an integer
    expect(Object.values(annotations).every((value) => typeof value === 'string')).toBe(true);
    expect(annotations[SYNC_WAVE_ANNOTATION]).toMatch(/^-?\d+$/);
  });

  test.each(environments)('%s: namespaces, service accounts and config sync before anything that uses them', (environment) => {
    // GIVEN one environment's objects
    const wave = (object: KubeObject) => Number(object.metadata.annotations?.[SYNC_WAVE_ANNOTATION]);
    const foundation = inEnvironment(environment).filter((object) => ['Namespace', 'ServiceAccount', 'ConfigMap'].includes(object.kind));
    const rest = inEnvironment(environment).filter((object) => !foundation.includes(object));
    // THEN the latest foundation wave is earlier than the earliest other wave
    expect(Math.max(...foundation.map(wave))).toBeLessThan(Math.min(...rest.map(wave)));
  });

  test.each(environments)('%s: every namespace an object lives in is created alongside it', (environment) => {
    const own = inEnvironment(environment);
    const created = own.filter((object) => object.kind === 'Namespace').map((object) => object.metadata.name);
    const used = [...new Set(own.flatMap((object) => (object.metadata.namespace === undefined ? [] : [object.metadata.namespace])))];
    expect(used.filter((namespace) => !created.includes(namespace))).toEqual([]);
  });

  test.each(objects.filter((object) => object.kind === 'HorizontalPodAutoscaler').map((hpa) => [hpa.metadata.name, hpa]))('HPA %s has a sane range and windows', (_name, hpa) => {
    const { minReplicas, maxReplicas, behavior } = hpa.spec;
    expect(minReplicas).toBeGreaterThanOrEqual(2);
    expect(maxReplicas).toBeGreaterThanOrEqual(minReplicas);
    for (const rules of [behavior?.scaleUp, behavior?.scaleDown].filter(Boolean)) {
      expect(rules.stabilizationWindowSeconds).toBeGreaterThanOrEqual(0);
      expect(rules.stabilizationWindowSeconds).toBeLessThanOrEqual(3600);
      for (const policy of rules.policies ?? []) expect(policy.value).toBeGreaterThan(0);
    }
    for (const metric of hpa.spec.metrics) expect(metric.resource.target.averageUtilization).toBeGreaterThan(0);
  });

  test.each(objects.filter((object) => object.kind === 'PodDisruptionBudget').map((pdb) => [pdb.metadata.name, pdb]))('PDB %s always lets one pod go and never all of them', (_name, pdb) => {
    // GIVEN the budget and the autoscaler of the same workload
    const hpa = objects.find((object) => object.kind === 'HorizontalPodAutoscaler' && object.metadata.namespace === pdb.metadata.namespace
      && object.spec.scaleTargetRef.name === pdb.metadata.name) as KubeObject;
    // THEN maxUnavailable is at least one and below the fewest pods
    expect(pdb.spec.maxUnavailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.maxUnavailable).toBeLessThan(hpa.spec.minReplicas);
  });

  test.each(objects.filter((object) => WORKLOAD_KINDS.includes(object.kind)).map((workload) => [workload.metadata.name, workload]))('%s has no fixed replica count fighting an autoscaler', (_name, workload) => {
    const scaled = objects.some((object) => object.kind === 'HorizontalPodAutoscaler' && object.metadata.namespace === workload.metadata.namespace
      && object.spec.scaleTargetRef.name === workload.metadata.name);
    expect(scaled ? workload.spec.replicas : 'not autoscaled').toBe(scaled ? undefined : 'not autoscaled');
  });

  test.each(podSpecs.map(({ id, spec }) => [id, spec]))('%s probes sensibly and runs a pinned image', (_id, spec) => {
    for (const container of containersOf(spec)) {
      for (const probe of [container['livenessProbe'], container['readinessProbe']]) {
        expect(probe, container.name).toBeDefined();
        expect(probe.periodSeconds).toBeGreaterThan(0);
        expect(probe.timeoutSeconds).toBeLessThan(probe.periodSeconds);
        expect(probe.failureThreshold).toBeGreaterThanOrEqual(1);
      }
      expect(container['image'], container.name).toMatch(/(:(?!latest(@|$))[\w][\w.-]*|@sha256:[0-9a-f]{64})$/);
    }
  });

  test.each(environments)('%s: the listener is killed only after its pre-stop pause and drain, and the NLB waits as long', (environment) => {
    // GIVEN the listener Deployment and its load balancer Service
    const own = inEnvironment(environment);
    const spec = find(own, 'Deployment', 'dicom-listener').spec.template.spec;
    const container = spec.containers[0];
    const drain = Number(container.env.find((e: { name: string }) => e.name === 'DRAIN_TIMEOUT_SECONDS').value);
    const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const attributes = Object.fromEntries(find(own, 'Service', 'dicom-listener').metadata.annotations?.['service.beta.kubernetes.io/aws-load-balancer-target-group-attributes']
      ?.split(',').map((pair: string) => pair.split('=')) ?? []);
    // THEN grace covers both, and deregistration lasts exactly the grace period
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(preStop + drain);
    expect(Number(attributes['deregistration_delay.timeout_seconds'])).toBe(spec.terminationGracePeriodSeconds);
    expect(attributes['preserve_client_ip.enabled']).toBe('true');
  });

  test.each(objects.filter((object) => object.spec?.type === 'LoadBalancer').map((service) => [service.metadata.name, service]))('load balancer %s uses only values the AWS Load Balancer Controller accepts', (_name, service) => {
    const a = (suffix: string) => service.metadata.annotations?.[`service.beta.kubernetes.io/aws-load-balancer-${suffix}`];
    expect(a('type')).toBe('external');
    expect(a('nlb-target-type')).toBe('ip');
    expect(['internal', 'internet-facing']).toContain(a('scheme'));
    expect(a('attributes')).toBe('load_balancing.cross_zone.enabled=true');
    expect(a('healthcheck-protocol')).toBe('http');
    expect(a('healthcheck-path')).toBe('/readyz');
    expect(Number(a('healthcheck-port'))).toBe(8080);
    expect(service.spec.loadBalancerSourceRanges.length).toBeGreaterThan(0);
    for (const port of service.spec.ports) {
      expect(port.port).toBeGreaterThan(0);
      expect(port.port).toBeLessThanOrEqual(65535);
    }
  });
});
