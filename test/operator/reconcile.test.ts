import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import type { DicomDestination, KubeObject } from '../../charts/operator/dicom-destination.ts';
import { childReferences, type ReconcileInput, reconcile } from '../../charts/operator/reconcile.ts';
import { decideAccess } from '../../listener/access-policy.ts';
import { LISTENER_ENV, loadConfig } from '../../listener/config.ts';
import { readManifestFiles } from '../charts/manifest-files.ts';
import { envOf, find, type Loose, minimalDestination, REPO_ROOT, sampleDestination, SETTINGS } from './fixtures.ts';
import { fargateViolations, schemaValidate, unknownFields } from './schemas.ts';

const NOW = new Date('2026-03-01T10:00:00Z');
const LATER = new Date('2026-03-01T10:05:00Z');
const HOSTNAME = 'k8s-dicom-stmarys-0123456789-abcdef0123456789.elb.eu-west-1.amazonaws.com';

function run(destination: DicomDestination, observed: readonly KubeObject[] = [], now = NOW): ReturnType<typeof reconcile> {
  const input: ReconcileInput = { destination, observed, settings: SETTINGS, now };
  return reconcile(input);
}

/** What the API server would hold after applying `desired`: generation 1, no status yet. */
function asApplied(desired: readonly KubeObject[]): KubeObject[] {
  return desired.map((object) => ({ ...structuredClone(object), metadata: { ...object.metadata, generation: 1, resourceVersion: '7' } }));
}

/** The applied children, after the Deployment rolled out and the AWS Load Balancer Controller gave the Service an NLB. */
function settled(desired: readonly KubeObject[], ingress: Loose = { hostname: HOSTNAME }): KubeObject[] {
  return asApplied(desired).map((object) => {
    if (object.kind === 'Deployment') {
      return { ...object, spec: { ...(object['spec'] as Loose), replicas: 2 }, status: {
        observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2,
        conditions: [{ type: 'Available', status: 'True' }, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }],
      } };
    }
    if (object.kind === 'Service' && (object['spec'] as Loose)['type'] === 'LoadBalancer') {
      return { ...object, status: { loadBalancer: { ingress: [ingress] } } };
    }
    return object;
  });
}

function condition(result: ReturnType<typeof reconcile>, type: string): Loose | undefined {
  return result.status?.conditions?.find((c) => c.type === type);
}

describe('reconcile: a new DicomDestination', () => {
  const destination = sampleDestination();
  const result = run(destination);

  test('renders its fleet: ServiceAccount, policy, Deployment, autoscaler, disruption budget, ops and NLB Services, in apply order', () => {
    expect(result.desired.map((object) => `${object.kind}/${object.metadata.name}`)).toEqual([
      'ServiceAccount/st-marys', 'ConfigMap/st-marys-policy', 'Deployment/st-marys', 'HorizontalPodAutoscaler/st-marys',
      'PodDisruptionBudget/st-marys', 'Service/st-marys-ops', 'Service/st-marys',
    ]);
    // AND it names exactly the children the I/O shell reads before reconciling
    expect(result.desired.map((object) => [object.kind, object.metadata.name])).toEqual(childReferences(destination).map((ref) => [ref.kind, ref.name]));
  });

  test.each(result.desired.map((object) => [`${object.kind}/${object.metadata.name}`, object]))('%s is valid against the Kubernetes 1.36 schema, with no field the API would drop', async (_id, object) => {
    await expect(schemaValidate(object)).resolves.toBeUndefined();
    expect(unknownFields(object)).toEqual([]);
  });

  test('every child is controlled by the destination, so deleting it cascades', () => {
    // GIVEN the desired children THEN each has exactly one owner reference: the destination, as controller
    for (const object of result.desired) {
      expect(object.metadata.ownerReferences, object.kind).toEqual([{
        apiVersion: 'dicom.destination.io/v1alpha1', kind: 'DicomDestination', name: 'st-marys',
        uid: destination.metadata.uid, controller: true, blockOwnerDeletion: true,
      }]);
      expect(object.metadata.namespace).toBe('dicom');
    }
  });

  test('children are marked as the controller\'s, not Argo CD\'s', () => {
    for (const object of result.desired) {
      expect(object.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('dicom-destination-controller');
      expect(Object.keys(object.metadata.annotations ?? {}).filter((key) => key.startsWith('argocd.argoproj.io/'))).toEqual([]);
    }
  });

  test('the pods meet Fargate\'s rules and the fleet selects only its own pods', () => {
    const deployment = find(result.desired, 'Deployment', 'st-marys');
    expect(fargateViolations(deployment['spec'].template.spec)).toEqual([]);
    expect(deployment['spec'].selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'st-marys', 'app.kubernetes.io/instance': 'example' });
    expect(find(result.desired, 'Service', 'st-marys')['spec'].selector).toEqual(deployment['spec'].selector.matchLabels);
    expect(find(result.desired, 'PodDisruptionBudget', 'st-marys')['spec'].selector.matchLabels).toEqual(deployment['spec'].selector.matchLabels);
  });

  test('routes each AE title as the spec says, through the listener policy file', () => {
    const policy = parse(find(result.desired, 'ConfigMap', 'st-marys-policy')['data']['policy.yaml']);
    expect(policy).toEqual({
      aeTitles: [
        { aeTitle: 'STMARYS' },
        {
          aeTitle: 'STMARYS_CT',
          allowedCallingAeTitles: ['CT_SCANNER_1', 'CT_SCANNER_2'],
          storageUrl: 's3://dicom-destination-example-111122223333/incoming/st-marys/ct',
          keyTemplate: '{prefix}/{CallingAETitle}/{StudyInstanceUID}/{SOPInstanceUID}.dcm',
        },
      ],
      maxAssociationsPerCallingAe: 8,
    });
  });

  test('sets storage, allow-list, TLS and identity from the spec, and the rest from the controller', () => {
    const deployment = find(result.desired, 'Deployment', 'st-marys');
    expect(envOf(deployment)).toMatchObject({
      DICOM_AE_TITLE: 'STMARYS,STMARYS_CT',
      DICOM_ALLOWED_CALLING_AE_TITLES: 'STMARYS_PACS,CT_SCANNER_1,CT_SCANNER_2',
      STORAGE_URL: 's3://dicom-destination-example-111122223333/incoming/st-marys',
      STORAGE_KEY_TEMPLATE: '{prefix}/{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm',
      S3_SSE_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      DICOM_PORT: 'off',
      DICOM_TLS_PORT: '2762',
      DICOM_TLS_REQUIRE_CLIENT_CERT: 'true',
      AWS_REGION: 'eu-west-1',
    });
    expect(deployment['spec'].template.spec.containers[0].image).toBe(SETTINGS.listenerImage);
    expect(deployment['spec'].template.spec.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'st-marys-tls', defaultMode: 0o440 } });
    expect(find(result.desired, 'ServiceAccount', 'st-marys').metadata.annotations).toEqual({
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/dicom-destination-example-st-marys',
    });
  });

  test('puts the NLB in front with the spec\'s scheme, source ranges and scaling', () => {
    const service = find(result.desired, 'Service', 'st-marys');
    expect(service['spec']).toMatchObject({ type: 'LoadBalancer', loadBalancerSourceRanges: ['10.20.0.0/16', '192.168.40.0/24'] });
    expect(service['spec'].ports).toEqual([{ name: 'dicom-tls', port: 2762, targetPort: 'dicom-tls', protocol: 'TCP' }]);
    expect(service.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-scheme']).toBe('internal');
    expect(find(result.desired, 'HorizontalPodAutoscaler', 'st-marys')['spec']).toMatchObject({ minReplicas: 2, maxReplicas: 6 });
  });

  test('reports that it is applying: not Ready, Progressing, not Degraded, for generation 1', () => {
    expect(result.status?.observedGeneration).toBe(1);
    expect(result.status?.endpoint).toBeUndefined();
    expect(result.status?.conditions).toEqual([
      { type: 'Ready', status: 'False', reason: 'Applying', message: expect.any(String), lastTransitionTime: NOW.toISOString(), observedGeneration: 1 },
      { type: 'Progressing', status: 'True', reason: 'Applying', message: expect.any(String), lastTransitionTime: NOW.toISOString(), observedGeneration: 1 },
      { type: 'Degraded', status: 'False', reason: 'AsExpected', message: expect.any(String), lastTransitionTime: NOW.toISOString(), observedGeneration: 1 },
    ]);
    expect(result.requeueAfterSeconds).toBeGreaterThan(0);
  });

  test('is deterministic: the same input renders the same children', () => {
    expect(run(destination).desired).toEqual(result.desired);
  });
});

describe('reconcile: the contract with the listener', () => {
  // Read by the OpenTelemetry and AWS SDKs rather than by the listener's own code.
  const SDK_VARIABLES = ['OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_TRACES_EXPORTER', 'OTEL_LOGS_EXPORTER', 'AWS_REGION'];

  test('every variable a destination sets is one the listener or an SDK reads', () => {
    const env = envOf(find(run(sampleDestination()).desired, 'Deployment', 'st-marys'));
    const known = new Set([...LISTENER_ENV.map((variable) => variable.name), ...SDK_VARIABLES]);
    expect(Object.keys(env).filter((name) => !known.has(name))).toEqual([]);
  });

  test('the listener starts with what a destination renders, and routes and admits as the spec says', () => {
    // GIVEN a destination with per-AE routing, rendered
    const destination = minimalDestination('routed', {
      aeTitles: [{ aeTitle: 'MAIN' }, { aeTitle: 'CT', callingAeTitles: ['CT_1'], prefix: 'ct', keyTemplate: '{prefix}/{SOPInstanceUID}.dcm' }],
      callingAeTitles: ['PACS'],
      storage: { url: 's3://dicom-bucket/site' },
    });
    const desired = run(destination).desired;
    // AND its policy file where the pod would mount it
    const dir = mkdtempSync(path.join(tmpdir(), 'operator-policy-'));
    try {
      const file = path.join(dir, 'policy.yaml');
      writeFileSync(file, find(desired, 'ConfigMap', 'routed-policy')['data']['policy.yaml']);
      // WHEN the listener loads its configuration from the pod's env
      const config = loadConfig({ ...envOf(find(desired, 'Deployment', 'routed')), DICOM_POLICY_FILE: file }, dir);
      // THEN each AE title stores where the spec says, and admits whom the spec says
      expect(config.access.calledAes.get('MAIN')?.storage).toEqual({ kind: 's3', bucket: 'dicom-bucket', prefix: 'site' });
      expect(config.access.calledAes.get('CT')).toMatchObject({ storage: { kind: 's3', bucket: 'dicom-bucket', prefix: 'ct' }, keyTemplate: '{prefix}/{SOPInstanceUID}.dcm' });
      expect(decideAccess(config.access, 'MAIN', 'PACS', '10.0.0.1')).toBe('allowed');
      expect(decideAccess(config.access, 'MAIN', 'CT_1', '10.0.0.1')).toBe('calling-ae-not-recognized');
      expect(decideAccess(config.access, 'CT', 'CT_1', '10.0.0.1')).toBe('allowed');
      expect(decideAccess(config.access, 'CT', 'PACS', '10.0.0.1')).toBe('calling-ae-not-recognized');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reconcile: the same constructs as the static manifests', () => {
  test('a destination with the example environment\'s values renders the committed listener Deployment', () => {
    // GIVEN the committed k8s/example listener and a DicomDestination carrying the same values
    const committed = readManifestFiles(path.join(REPO_ROOT, 'k8s', 'example')).flatMap((file) => file.objects);
    const staticDeployment = committed.find((object) => object.kind === 'Deployment' && object.metadata.name === 'dicom-listener') as Loose;
    const destination = minimalDestination('dicom-listener', {
      aeTitles: [{ aeTitle: 'DICOMS3' }],
      storage: { url: 's3://dicom-destination-example-111122223333/incoming', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
      tls: { mode: 'passthrough', secretName: 'dicom-listener-tls' },
      loadBalancer: { sourceRanges: ['10.20.0.0/16'] },
    });
    // WHEN reconciled
    const rendered = find(run(destination).desired, 'Deployment', 'dicom-listener');
    // THEN the pod spec is identical; only the managed-by label differs
    expect(rendered['spec'].template.spec).toEqual(staticDeployment['spec'].template.spec);
    expect(rendered['spec'].template.metadata.annotations).toEqual(staticDeployment['spec'].template.metadata.annotations);
    expect({ ...rendered['spec'].template.metadata.labels, 'app.kubernetes.io/managed-by': 'cdk8s' }).toEqual(staticDeployment['spec'].template.metadata.labels);
  });
});

describe('reconcile: an update', () => {
  const first = run(sampleDestination());
  const observed = settled(first.desired);
  const changed = run(sampleDestination({ aeTitles: [{ aeTitle: 'STMARYS' }, { aeTitle: 'STMARYS_MR' }] }, { generation: 2 }), observed);

  test('a new generation changes the policy and rolls the pods', () => {
    // GIVEN generation 2 with another AE title THEN the ConfigMap and the pod template's checksum change
    const policy = (result: typeof first) => find(result.desired, 'ConfigMap', 'st-marys-policy')['data']['policy.yaml'];
    const checksum = (result: typeof first) => find(result.desired, 'Deployment', 'st-marys')['spec'].template.metadata.annotations['checksum/policy'];
    expect(policy(changed)).toContain('STMARYS_MR');
    expect(checksum(changed)).not.toBe(checksum(first));
    expect(envOf(find(changed.desired, 'Deployment', 'st-marys'))['DICOM_AE_TITLE']).toBe('STMARYS,STMARYS_MR');
  });

  test('the status describes the new generation', () => {
    expect(changed.status?.observedGeneration).toBe(2);
    expect(changed.status?.conditions?.every((c) => c.observedGeneration === 2)).toBe(true);
  });

  test('while the Deployment rolls the new template out, the destination stays Ready and is Progressing', () => {
    // GIVEN the Deployment after the apply: generation 2, not yet observed by its controller
    const rolling = observed.map((object) => (object.kind === 'Deployment'
      ? { ...object, metadata: { ...object.metadata, generation: 2 }, status: { ...(object['status'] as Loose), updatedReplicas: 1 } }
      : object));
    const result = run(sampleDestination({}, { generation: 2 }), rolling);
    // THEN old pods keep serving (Ready) while the rollout runs (Progressing)
    expect(condition(result, 'Ready')).toMatchObject({ status: 'True', reason: 'Available' });
    expect(condition(result, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
  });

  test('children unchanged by the spec are rendered identically, so applying them is a no-op', () => {
    const unchanged = run(sampleDestination({}, { generation: 2 }), observed);
    expect(unchanged.desired).toEqual(first.desired);
  });
});

describe('reconcile: status from the observed children', () => {
  const first = run(sampleDestination());

  test('the NLB hostname and port make the destination Ready, with its endpoint', () => {
    // GIVEN the Deployment rolled out and the Service holding the NLB's hostname
    const result = run(sampleDestination(), settled(first.desired));
    // THEN the endpoint is the NLB's name and the TLS port, and the destination is Ready and settled
    expect(result.status?.endpoint).toBe(`${HOSTNAME}:2762`);
    expect(result.status?.loadBalancer).toEqual({ hostname: HOSTNAME, ports: [{ name: 'dicom-tls', port: 2762, protocol: 'TCP' }] });
    expect(condition(result, 'Ready')).toMatchObject({ status: 'True', reason: 'Available', message: `Accepting associations for STMARYS, STMARYS_CT at ${HOSTNAME}:2762 (TLS terminated by the listener).` });
    expect(condition(result, 'Progressing')).toMatchObject({ status: 'False', reason: 'Complete' });
    expect(condition(result, 'Degraded')).toMatchObject({ status: 'False' });
    expect(result.requeueAfterSeconds).toBeUndefined();
  });

  test('a load balancer with only an IP (MetalLB on kind) gives an IP endpoint', () => {
    const destination = minimalDestination();
    const result = run(destination, settled(run(destination).desired, { ip: '172.18.255.200' }));
    expect(result.status?.endpoint).toBe('172.18.255.200:11112');
    expect(result.status?.loadBalancer).toEqual({ ip: '172.18.255.200', ports: [{ name: 'dicom', port: 11112, protocol: 'TCP' }] });
  });

  test('without an NLB address yet, it is not Ready and waits for the load balancer', () => {
    const observed = settled(first.desired).map((object) => (object.kind === 'Service' ? { ...object, status: { loadBalancer: {} } } : object));
    const result = run(sampleDestination(), observed);
    expect(result.status?.endpoint).toBeUndefined();
    expect(condition(result, 'Ready')).toMatchObject({ status: 'False', reason: 'LoadBalancerPending' });
    expect(condition(result, 'Progressing')).toMatchObject({ status: 'True', reason: 'LoadBalancerPending' });
    expect(result.requeueAfterSeconds).toBe(30);
  });

  test('without an available pod, it is not Ready even with an address', () => {
    const observed = settled(first.desired).map((object) => (object.kind === 'Deployment' ? { ...object, status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 0 } } : object));
    expect(condition(run(sampleDestination(), observed), 'Ready')).toMatchObject({ status: 'False', reason: 'PodsUnavailable' });
  });

  test('a rollout past its progress deadline is Degraded, naming the Deployment\'s reason', () => {
    const observed = settled(first.desired).map((object) => (object.kind === 'Deployment'
      ? { ...object, status: { ...(object['status'] as Loose), conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "st-marys-5d8f" has timed out progressing.' }] } }
      : object));
    expect(condition(run(sampleDestination(), observed), 'Degraded')).toMatchObject({ status: 'True', reason: 'RolloutStuck', message: expect.stringContaining('timed out progressing') });
  });

  test('a condition keeps its transition time until its status changes', () => {
    // GIVEN a status written at NOW, while the load balancer was pending
    const pending = run(sampleDestination());
    const withStatus = sampleDestination({}, {});
    const before = { ...withStatus, status: pending.status } as DicomDestination;
    // WHEN reconciled later, with the endpoint now there
    const result = run(before, settled(first.desired), LATER);
    // THEN Ready moved (new time) and Degraded did not (old time)
    expect(condition(result, 'Ready')?.['lastTransitionTime']).toBe(LATER.toISOString());
    expect(condition(result, 'Degraded')?.['lastTransitionTime']).toBe(NOW.toISOString());
  });
});

describe('reconcile: TLS modes', () => {
  test('none serves plain DICOM on 11112', () => {
    const result = run(minimalDestination());
    expect(find(result.desired, 'Service', 'plain')['spec'].ports).toEqual([{ name: 'dicom', port: 11112, targetPort: 'dicom', protocol: 'TCP' }]);
    expect(envOf(find(result.desired, 'Deployment', 'plain'))['DICOM_PORT']).toBe('11112');
  });

  test('nlb terminates TLS at the NLB on 2762 with the ACM certificate', () => {
    const certificateArn = 'arn:aws:acm:eu-west-1:111122223333:certificate/12345678-1234-1234-1234-123456789012';
    const result = run(minimalDestination('edge', { tls: { mode: 'nlb', certificateArn } }));
    const service = find(result.desired, 'Service', 'edge');
    expect(service['spec'].ports).toEqual([{ name: 'dicom-tls', port: 2762, targetPort: 'dicom', protocol: 'TCP' }]);
    expect(service.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-ssl-cert']).toBe(certificateArn);
  });

  test('passthrough can leave client certificates optional', () => {
    const result = run(minimalDestination('tls', { tls: { mode: 'passthrough', secretName: 'tls', requireClientCertificate: false } }));
    expect(envOf(find(result.desired, 'Deployment', 'tls'))['DICOM_TLS_REQUIRE_CLIENT_CERT']).toBe('false');
  });
});

describe('reconcile: deletion', () => {
  test('a destination being deleted needs nothing: no apply, no status write', () => {
    // GIVEN a destination with a deletion timestamp, its children still present
    const children = settled(run(sampleDestination()).desired);
    const deleting = sampleDestination({}, { deletionTimestamp: '2026-03-01T11:00:00Z' });
    // WHEN reconciled
    const result = run(deleting, children);
    // THEN there is nothing to do: the garbage collector deletes every child, because each is owned by it
    expect(result).toEqual({ desired: [] });
    expect(children.every((child) => child.metadata.ownerReferences?.some((owner) => owner.uid === deleting.metadata.uid && owner.controller === true))).toBe(true);
  });
});

describe('reconcile: invalid specs', () => {
  test.each<[string, Loose, RegExp]>([
    ['an AE title that is too long', { aeTitles: [{ aeTitle: 'SEVENTEEN_CHARS_X' }] }, /spec\.aeTitles\[0\]\.aeTitle must be 1-16 printable ASCII/],
    ['a duplicated AE title', { aeTitles: [{ aeTitle: 'A' }, { aeTitle: 'A' }] }, /spec\.aeTitles lists "A" twice/],
    ['a bad CIDR', { loadBalancer: { sourceRanges: ['10.0.0.0/33'] } }, /spec\.loadBalancer\.sourceRanges\[0\] must be an IPv4 or IPv6 CIDR/],
    ['passthrough without a Secret', { tls: { mode: 'passthrough' } }, /spec\.tls\.secretName is required when tls\.mode is "passthrough"/],
    ['an unknown TLS mode', { tls: { mode: 'mtls' } }, /spec\.tls\.mode must be one of "none", "passthrough", "nlb", got "mtls"/],
    ['a storage URL that is not s3://', { storage: { url: 'file:///data' } }, /spec\.storage\.url must be s3:\/\/<bucket>/],
    ['a key template the listener would refuse', { storage: { url: 's3://dicom-bucket', keyTemplate: '{prefix}/{PatientName}/{SOPInstanceUID}' } }, /spec\.storage\.keyTemplate: unknown placeholder \{PatientName\}/],
    ['a size Fargate does not offer', { resources: { vcpu: 1, memoryGiB: 16 } }, /spec\.resources: 16 GiB does not fit 1 vCPU on Fargate/],
    ['one replica', { scaling: { minReplicas: 1 } }, /spec\.scaling\.minReplicas must be a whole number from 2 to 1000, got 1/],
    ['no spec at all', { aeTitles: undefined, storage: undefined, tls: undefined, loadBalancer: undefined }, /^Invalid spec: spec\.storage is required; spec\.aeTitles must list 1 to 16 AE titles; spec\.tls is required; spec\.loadBalancer is required$/],
  ])('%s: Degraded with a message naming the field, nothing applied', (_case, spec, message) => {
    // GIVEN a destination with one thing wrong WHEN reconciled
    const result = run(minimalDestination('broken', spec));
    // THEN nothing is applied and the status says what is wrong
    expect(result.desired).toEqual([]);
    expect(condition(result, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec', message: expect.stringMatching(message) });
    expect(condition(result, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(result, 'Progressing')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(result.status?.observedGeneration).toBe(1);
  });

  test('lists every problem at once, so one edit can fix them all', () => {
    const result = run(minimalDestination('broken', { tls: { mode: 'nlb' }, scaling: { minReplicas: 4, maxReplicas: 3 } }));
    expect(condition(result, 'Degraded')?.['message']).toBe('Invalid spec: spec.tls.certificateArn is required when tls.mode is "nlb"; spec.scaling.maxReplicas must be at least minReplicas (4), got 3');
  });

  test.each<[string, unknown]>([
    ['null', null], ['a string', 'spec'], ['a list', []], ['wrong types everywhere', { aeTitles: 'A', storage: [], tls: 7, loadBalancer: { sourceRanges: 'x' }, scaling: 'big', resources: { vcpu: 'one' } }],
  ])('never throws, whatever the spec is (%s)', (_case, spec) => {
    const destination = { ...minimalDestination('garbage'), spec };
    expect(() => run(destination)).not.toThrow();
    expect(condition(run(destination), 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
  });

  test('an invalid name is Degraded too: it would name Services', () => {
    expect(condition(run(minimalDestination('9-lives')), 'Degraded')?.['message']).toMatch(/metadata\.name must be a DNS-1035 label/);
  });

  test('without a role in the spec or the controller, it says which to set', () => {
    const result = reconcile({ destination: minimalDestination(), observed: [], settings: { ...SETTINGS, defaultRoleArn: undefined }, now: NOW });
    expect(condition(result, 'Degraded')?.['message']).toMatch(/spec\.storage\.roleArn is required: the controller has no default listener role/);
  });

  test('keeps reporting the endpoint the running fleet still serves', () => {
    // GIVEN a Ready destination whose spec is then broken
    const observed = settled(run(sampleDestination()).desired);
    const result = run(sampleDestination({ tls: { mode: 'passthrough' } }, { generation: 2 }), observed);
    // THEN the address stays in the status, while Ready says why the spec was not applied
    expect(result.status?.endpoint).toBe(`${HOSTNAME}:2762`);
    expect(condition(result, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
  });
});

describe('reconcile: names it does not own', () => {
  test('an existing object it does not control is never taken over', () => {
    // GIVEN a Service named like the destination, created by someone else
    const destination = minimalDestination('pacs');
    const stranger: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'pacs', namespace: 'dicom', uid: 'other' }, spec: { type: 'ClusterIP' } };
    // WHEN reconciled
    const result = run(destination, [stranger]);
    // THEN nothing is applied and the conflict is reported, to be retried later
    expect(result.desired).toEqual([]);
    expect(condition(result, 'Degraded')).toMatchObject({ status: 'True', reason: 'ChildConflict', message: expect.stringContaining('Service pacs already exists and is not controlled by this DicomDestination') });
    expect(result.requeueAfterSeconds).toBe(60);
  });

  test('children of an earlier object with the same name wait for the garbage collector', () => {
    // GIVEN children owned by a deleted destination of the same name (another uid)
    const old = run(minimalDestination('pacs')).desired;
    const recreated = { ...minimalDestination('pacs'), metadata: { ...minimalDestination('pacs').metadata, uid: 'uid-new' } };
    // THEN the new destination does not adopt them
    expect(condition(run(recreated, asApplied(old)), 'Degraded')).toMatchObject({ reason: 'ChildConflict' });
  });
});
