import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { ListenerFleet, type ListenerFleetProps } from '../../charts/listener-fleet.ts';
import { find, type KubeObject, synthIn } from './fixtures.ts';

const BASE: ListenerFleetProps = {
  namespace: 'dicom',
  environmentName: 'test',
  image: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/dicom-listener:1.2.3',
  serviceAccountRoleArn: 'arn:aws:iam::111122223333:role/listener',
  region: 'eu-west-1',
  bucket: 'dicom-bucket',
  prefix: 'incoming',
  aeTitles: ['DICOMS3', 'ARCHIVE'],
  otlpEndpoint: 'http://adot-collector.observability.svc.cluster.local:4318',
};

function synthFleet(overrides: Partial<ListenerFleetProps> = {}): KubeObject[] {
  return synthIn((chart) => new ListenerFleet(chart, 'fleet', { ...BASE, ...overrides }));
}

function podSpec(objects: KubeObject[]) {
  return find(objects, 'Deployment', 'dicom-listener').spec.template.spec;
}

function container(objects: KubeObject[]) {
  return podSpec(objects).containers[0];
}

function envOf(objects: KubeObject[]): Record<string, string> {
  return Object.fromEntries(container(objects).env.map((e: { name: string; value: string }) => [e.name, e.value]));
}

describe('ListenerFleet', () => {
  test('runs the container non-root, read-only, without capabilities or privilege escalation, under RuntimeDefault seccomp', () => {
    // GIVEN a default fleet
    // WHEN synthesized
    const objects = synthFleet();
    // THEN the pod and the container are locked down
    expect(container(objects).securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(podSpec(objects).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
  });

  test('mounts a service-account token and annotates the ServiceAccount with the IRSA role', () => {
    // GIVEN a fleet with a role ARN
    // WHEN synthesized
    const objects = synthFleet();
    // THEN the pod gets a token and the account names the role
    expect(podSpec(objects)).toMatchObject({ serviceAccountName: 'dicom-listener', automountServiceAccountToken: true });
    expect(find(objects, 'ServiceAccount', 'dicom-listener').metadata.annotations).toMatchObject({
      'eks.amazonaws.com/role-arn': BASE.serviceAccountRoleArn,
    });
  });

  test('probes /healthz for liveness and /readyz for readiness on the ops port', () => {
    // GIVEN a default fleet WHEN synthesized
    const listener = container(synthFleet());
    // THEN both probes are HTTP on the named ops port
    expect(listener.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'ops' });
    expect(listener.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops' });
    expect(listener.ports).toContainEqual({ name: 'ops', containerPort: 8080, protocol: 'TCP' });
  });

  test('requests exactly its limits, sized so Fargate provisions 1 vCPU / 2 GiB after its 256 MiB reservation', () => {
    // GIVEN the default size WHEN synthesized
    const { resources } = container(synthFleet());
    // THEN requests equal limits and memory leaves room for Fargate's own components
    expect(resources.requests).toEqual(resources.limits);
    expect(resources.limits).toEqual({ cpu: '1000m', memory: '1792Mi' });
  });

  test('sizes to another Fargate combination when asked', () => {
    // GIVEN 2 vCPU / 4 GiB WHEN synthesized
    const { resources } = container(synthFleet({ fargateVcpu: 2, fargateMemoryGiB: 4 }));
    // THEN the container asks for 2 vCPU and 4 GiB minus the reservation
    expect(resources.limits).toEqual({ cpu: '2000m', memory: '3840Mi' });
  });

  test('requests no ephemeral storage, since instances stream to S3 and never touch disk', () => {
    // GIVEN a default fleet WHEN synthesized
    const { resources } = container(synthFleet());
    // THEN no ephemeral-storage is requested
    expect(Object.keys(resources.requests)).not.toContain('ephemeral-storage');
  });

  test.each([
    [{ fargateVcpu: 3 }, /3 vCPU is not a Fargate size/],
    [{ fargateVcpu: 1, fargateMemoryGiB: 16 }, /16 GiB does not fit 1 vCPU on Fargate/],
  ])('rejects a size Fargate does not offer (%j)', (overrides, message) => {
    expect(() => synthFleet(overrides)).toThrow(message);
  });

  test('leaves replicas to an autoscaler on CPU and memory, from 2 to 10 pods', () => {
    // GIVEN a default fleet WHEN synthesized
    const objects = synthFleet();
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'dicom-listener');
    // THEN the Deployment has no replica count and the HPA targets it
    expect(find(objects, 'Deployment', 'dicom-listener').spec.replicas).toBeUndefined();
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toMatchObject({ scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'dicom-listener' }, minReplicas: 2, maxReplicas: 10 });
    expect(hpa.spec.metrics.map((metric: { resource: { name: string } }) => metric.resource.name)).toEqual(['cpu', 'memory']);
  });

  test('scales down slowly: a 30-minute stabilization window and one pod per five minutes', () => {
    // GIVEN a default fleet WHEN synthesized
    const hpa = find(synthFleet(), 'HorizontalPodAutoscaler', 'dicom-listener');
    // THEN scale-down waits and removes one pod at a time
    expect(hpa.spec.behavior.scaleDown).toEqual({
      stabilizationWindowSeconds: 1800,
      selectPolicy: 'Min',
      policies: [{ type: 'Pods', value: 1, periodSeconds: 300 }],
    });
  });

  test.each([
    [{ minReplicas: 1 }, /minReplicas must be a whole number from 2 to 1000, got 1/],
    [{ minReplicas: 4, maxReplicas: 3 }, /maxReplicas must be a whole number from 4 to 1000, got 3/],
    [{ scaleDownStabilizationSeconds: 4000 }, /scaleDownStabilizationSeconds must be a whole number from 0 to 3600/],
    [{ cpuTargetUtilizationPercent: 0 }, /cpuTargetUtilizationPercent must be a whole number from 1 to 100/],
  ])('rejects an autoscaling range that cannot work (%j)', (overrides, message) => {
    expect(() => synthFleet(overrides)).toThrow(message);
  });

  test('keeps all but one pod through voluntary disruptions', () => {
    // GIVEN a default fleet WHEN synthesized
    const objects = synthFleet();
    const pdb = find(objects, 'PodDisruptionBudget', 'dicom-listener');
    // THEN the budget selects the fleet's pods and allows one down
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(find(objects, 'Deployment', 'dicom-listener').spec.selector.matchLabels);
  });

  test('spreads pods across zones without ever blocking scheduling', () => {
    // GIVEN a default fleet WHEN synthesized
    const objects = synthFleet();
    // THEN a soft zone spread constraint selects the fleet's own pods
    expect(podSpec(objects).topologySpreadConstraints).toEqual([{
      maxSkew: 1,
      topologyKey: 'topology.kubernetes.io/zone',
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: find(objects, 'Deployment', 'dicom-listener').spec.selector.matchLabels },
    }]);
  });

  test('gives pods a grace period covering the pre-stop pause, the drain timeout and a margin', () => {
    // GIVEN a 120 s drain and a 10 s pre-stop pause
    const objects = synthFleet({ drainTimeoutSeconds: 120, preStopDelaySeconds: 10 });
    // THEN the listener drains for 120 s and is killed no earlier than 145 s
    expect(envOf(objects)['DRAIN_TIMEOUT_SECONDS']).toBe('120');
    expect(podSpec(objects).terminationGracePeriodSeconds).toBe(145);
    expect(container(objects).lifecycle).toEqual({ preStop: { sleep: { seconds: 10 } } });
  });

  test('rejects a grace period shorter than the pre-stop pause plus the drain', () => {
    // GIVEN a 60 s drain, a 10 s pause and a 60 s grace period
    // WHEN synthesized THEN it fails, naming the minimum
    expect(() => synthFleet({ drainTimeoutSeconds: 60, preStopDelaySeconds: 10, terminationGracePeriodSeconds: 60 }))
      .toThrow(/terminationGracePeriodSeconds must be a whole number from 75 to 3600, got 60/);
  });

  test.each([
    [`${BASE.image.split(':')[0]}:latest`, /image must not use the mutable tag "latest"/],
    [BASE.image.split(':')[0], /image has no tag or digest/],
  ])('rejects an unpinned image (%s)', (image, message) => {
    expect(() => synthFleet({ image })).toThrow(message);
  });

  test('rejects a role that is not an IAM role ARN', () => {
    expect(() => synthFleet({ serviceAccountRoleArn: 'arn:aws:iam::111122223333:user/listener' })).toThrow(/serviceAccountRoleArn must be an IAM role ARN/);
  });

  test('rejects a fleet without AE titles', () => {
    expect(() => synthFleet({ aeTitles: [] })).toThrow(/aeTitles must list at least one AE title/);
  });

  test('without a TLS Secret, serves plain DICOM on 11112 and mounts no key material', () => {
    // GIVEN no TLS Secret WHEN synthesized
    const objects = synthFleet();
    const env = envOf(objects);
    // THEN the plain port is on and nothing about TLS is set
    expect(env['DICOM_PORT']).toBe('11112');
    expect(Object.keys(env).filter((name) => name.startsWith('DICOM_TLS_'))).toEqual([]);
    expect(container(objects).ports).toContainEqual({ name: 'dicom', containerPort: 11112, protocol: 'TCP' });
    expect(podSpec(objects).volumes.map((volume: { name: string }) => volume.name)).toEqual(['policy']);
  });

  test('with a TLS Secret, serves only TLS on 2762 from the mounted Secret, requiring client certificates', () => {
    // GIVEN a TLS Secret WHEN synthesized
    const objects = synthFleet({ tlsSecretName: 'listener-tls' });
    const env = envOf(objects);
    // THEN the plain port is off, TLS points at the read-only mount, and only dicom-tls is exposed
    expect(env).toMatchObject({
      DICOM_PORT: 'off',
      DICOM_TLS_PORT: '2762',
      DICOM_TLS_CERT_FILE: '/etc/dicom/tls/tls.crt',
      DICOM_TLS_KEY_FILE: '/etc/dicom/tls/tls.key',
      DICOM_TLS_CA_FILE: '/etc/dicom/tls/ca.crt',
      DICOM_TLS_REQUIRE_CLIENT_CERT: 'true',
    });
    expect(podSpec(objects).volumes).toContainEqual({ name: 'tls', secret: { secretName: 'listener-tls', defaultMode: 0o440 } });
    expect(container(objects).volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/dicom/tls', readOnly: true });
    expect(container(objects).ports.map((port: { name: string }) => port.name)).toEqual(['dicom-tls', 'ops']);
  });

  test('writes the AE policy to a ConfigMap the listener reads from DICOM_POLICY_FILE', () => {
    // GIVEN two AE titles and a per-calling-AE cap WHEN synthesized
    const objects = synthFleet({ maxAssociationsPerCallingAe: 16 });
    const policy = find(objects, 'ConfigMap', 'dicom-listener-policy');
    // THEN the policy file lists both and the pod mounts it where the env says
    expect(parse(policy.data['policy.yaml'])).toEqual({
      aeTitles: [{ aeTitle: 'DICOMS3' }, { aeTitle: 'ARCHIVE' }],
      maxAssociationsPerCallingAe: 16,
    });
    expect(envOf(objects)['DICOM_POLICY_FILE']).toBe('/etc/dicom/policy/policy.yaml');
    expect(container(objects).volumeMounts).toContainEqual({ name: 'policy', mountPath: '/etc/dicom/policy', readOnly: true });
  });

  test('rolls the pods when the policy changes', () => {
    // GIVEN two fleets differing only in AE titles
    const checksum = (objects: KubeObject[]) => find(objects, 'Deployment', 'dicom-listener').spec.template.metadata.annotations['checksum/policy'];
    // WHEN synthesized THEN their pod templates differ
    expect(checksum(synthFleet({ aeTitles: ['ONE'] }))).not.toBe(checksum(synthFleet({ aeTitles: ['TWO'] })));
  });

  test('stores to s3://bucket/prefix with SSE-KMS when a key is given', () => {
    // GIVEN a key WHEN synthesized
    const env = envOf(synthFleet({ kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' }));
    // THEN storage, encryption, class and region are set
    expect(env).toMatchObject({
      STORAGE_URL: 's3://dicom-bucket/incoming',
      S3_SSE_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      S3_STORAGE_CLASS: 'INTELLIGENT_TIERING',
      AWS_REGION: 'eu-west-1',
    });
  });

  test('stores to the bucket root when the prefix is empty, with the bucket default encryption', () => {
    // GIVEN no prefix and no key WHEN synthesized
    const env = envOf(synthFleet({ prefix: '' }));
    // THEN the URL has no trailing slash and no KMS key is set
    expect(env['STORAGE_URL']).toBe('s3://dicom-bucket');
    expect(Object.keys(env)).not.toContain('S3_SSE_KMS_KEY_ID');
  });

  test('points OpenTelemetry at the collector over OTLP/HTTP', () => {
    // GIVEN a collector endpoint WHEN synthesized
    const env = envOf(synthFleet());
    // THEN traces go there and the service is named
    expect(env).toMatchObject({
      OTEL_EXPORTER_OTLP_ENDPOINT: BASE.otlpEndpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_SERVICE_NAME: 'dicom-listener',
    });
  });
});
