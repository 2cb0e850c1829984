import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { Testing } from 'cdk8s';
import { DICOM_DESTINATION_SCHEMA, dicomDestinationCrd } from '../../charts/operator/crd.ts';
import type { IJSONSchemaProps } from 'kubernetes-models/apiextensions.k8s.io/v1/JSONSchemaProps';
import { DestinationOperator } from '../../charts/operator/operator-manifests.ts';
import { childReferences } from '../../charts/operator/reconcile.ts';
import { validateDestination } from '../../charts/operator/validate.ts';
import { readManifestFiles } from '../charts/manifest-files.ts';
import { minimalDestination, type Loose, REPO_ROOT, sampleManifest, SETTINGS } from './fixtures.ts';
import { fargateViolations, schemaValidate, unknownFields, validateAgainstCrd, validateAgainstCrdClosed } from './schemas.ts';

const crd = dicomDestinationCrd('example') as Loose;
const version = crd['spec'].versions[0];

/** Every schema node with its path, depth first. */
function nodes(schema: IJSONSchemaProps, at = ''): [string, IJSONSchemaProps][] {
  const children = [
    ...Object.entries(schema.properties ?? {}).flatMap(([name, child]) => nodes(child, `${at}.${name}`)),
    ...(schema.items === undefined ? [] : nodes(schema.items as IJSONSchemaProps, `${at}[]`)),
  ];
  return [[at || '(root)', schema], ...children];
}

/** A CR for the CRD schema: the minimal destination without server-set metadata. */
function manifest(spec: Loose = {}): Loose {
  const { metadata, ...rest } = minimalDestination('plain', spec) as Loose;
  return { ...rest, metadata: { name: metadata.name, namespace: metadata.namespace } };
}

describe('the DicomDestination CRD', () => {
  test('is valid against the Kubernetes 1.36 schema and has no field the API would drop', async () => {
    // GIVEN the CRD WHEN validated THEN the apiextensions.k8s.io/v1 schema accepts it
    await expect(schemaValidate(crd)).resolves.toBeUndefined();
    expect(unknownFields(crd as never)).toEqual([]);
  });

  test('is what k8s/ ships, with its controller, Role and RoleBinding', () => {
    // GIVEN the committed example environment's files
    const objects = readManifestFiles(path.join(REPO_ROOT, 'k8s', 'example')).flatMap((file) => file.objects);
    // THEN the CRD is exactly the construct's, and the controller's objects are there
    expect(objects.find((object) => object.kind === 'CustomResourceDefinition')).toEqual(crd);
    expect(objects.filter((object) => object.metadata.name === 'dicom-destination-controller').map((object) => object.kind).sort())
      .toEqual(['Deployment', 'Role', 'RoleBinding', 'ServiceAccount']);
  });

  test('is a namespaced v1alpha1 API with the status subresource, never pruned by Argo CD', () => {
    expect(crd['metadata'].name).toBe('dicomdestinations.dicom.destination.io');
    expect(crd['spec']).toMatchObject({ group: 'dicom.destination.io', scope: 'Namespaced', names: { kind: 'DicomDestination', plural: 'dicomdestinations' } });
    expect(version).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
    // Pruning the CRD would delete every destination and, by cascade, every fleet.
    expect(crd['metadata'].annotations['argocd.argoproj.io/sync-options']).toBe('Prune=false');
  });

  test('prints the AE title, endpoint, TLS mode, readiness and age', () => {
    const columns = version.additionalPrinterColumns.map((column: Loose) => [column['name'], column['jsonPath']]);
    expect(columns).toEqual(expect.arrayContaining([
      ['AE Title', '.spec.aeTitles[0].aeTitle'],
      ['Endpoint', '.status.endpoint'],
      ['TLS', '.spec.tls.mode'],
      ['Ready', '.status.conditions[?(@.type=="Ready")].status'],
      ['Age', '.metadata.creationTimestamp'],
    ]));
  });

  test('has a structural schema: every node typed, list-map keys required, descriptions on the spec fields', () => {
    // GIVEN every node of the schema
    const all = nodes(DICOM_DESTINATION_SCHEMA);
    // THEN each has a type, and a map-list's keys are required in its items
    expect(all.filter(([, node]) => node.type === undefined).map(([at]) => at)).toEqual([]);
    for (const [at, node] of all.filter(([, n]) => n['x-kubernetes-list-type'] === 'map')) {
      expect((node.items as IJSONSchemaProps).required, at).toEqual(expect.arrayContaining(node['x-kubernetes-list-map-keys'] ?? ['?']));
    }
    // AND every array is bounded, so CEL rules over them have a bounded cost
    expect(all.filter(([at, node]) => node.type === 'array' && node.maxItems === undefined && !at.startsWith('.status')).map(([at]) => at)).toEqual([]);
  });
});

describe('a DicomDestination against the CRD schema', () => {
  test('the committed sample is valid and uses no field outside the schema', () => {
    // GIVEN the sample in charts/operator/examples WHEN validated with unknown fields forbidden THEN it passes
    expect(validateAgainstCrdClosed(sampleManifest())).toEqual({ valid: true, errors: [] });
  });

  test('the committed sample is what the controller accepts', () => {
    // GIVEN the sample as the API server stores it WHEN the controller validates it THEN there is no problem
    const sample = sampleManifest();
    validateAgainstCrd(sample);
    expect(validateDestination(sample['metadata'].name, sample['spec'], undefined)).toMatchObject({ ok: true });
  });

  test('a minimal spec gets the defaults: internal NLB, 2-10 pods at 70% CPU, 1 vCPU / 2 GiB', () => {
    // GIVEN a spec without scheme, scaling or resources
    const object = manifest();
    // WHEN validated (the API server defaults first)
    expect(validateAgainstCrd(object).valid).toBe(true);
    // THEN the defaults are filled in as the controller assumes them
    expect(object['spec']).toMatchObject({
      loadBalancer: { scheme: 'internal' },
      scaling: { minReplicas: 2, maxReplicas: 10, targetCpuUtilizationPercent: 70 },
      resources: { vcpu: 1, memoryGiB: 2 },
    });
  });

  test.each([
    ['an AE title longer than 16 characters', { aeTitles: [{ aeTitle: 'SEVENTEEN_CHARS_X' }] }, '/spec/aeTitles/0/aeTitle'],
    ['an AE title with a backslash', { aeTitles: [{ aeTitle: 'A\\B' }] }, '/spec/aeTitles/0/aeTitle'],
    ['an AE title with a leading space', { aeTitles: [{ aeTitle: ' PACS' }] }, '/spec/aeTitles/0/aeTitle'],
    ['no AE title', { aeTitles: [] }, '/spec/aeTitles'],
    ['a calling AE title with a control character', { callingAeTitles: ['BAD\tAE'] }, '/spec/callingAeTitles/0'],
    ['a CIDR with a /33', { loadBalancer: { sourceRanges: ['10.0.0.0/33'] } }, '/spec/loadBalancer/sourceRanges/0'],
    ['an address without a prefix length', { loadBalancer: { sourceRanges: ['10.0.0.1'] } }, '/spec/loadBalancer/sourceRanges/0'],
    ['no source range', { loadBalancer: { sourceRanges: [] } }, '/spec/loadBalancer/sourceRanges'],
    ['an unknown scheme', { loadBalancer: { scheme: 'public', sourceRanges: ['10.0.0.0/8'] } }, '/spec/loadBalancer/scheme'],
    ['an unknown TLS mode', { tls: { mode: 'mtls' } }, '/spec/tls/mode'],
    ['a storage URL that is not s3://', { storage: { url: 'file:///tmp/dicom' } }, '/spec/storage/url'],
    ['a key template without {SOPInstanceUID}', { storage: { url: 's3://dicom-bucket', keyTemplate: '{prefix}/{StudyInstanceUID}.dcm' } }, '/spec/storage/keyTemplate'],
    ['a role that is not an IAM role ARN', { storage: { url: 's3://dicom-bucket', roleArn: 'arn:aws:iam::111122223333:user/bob' } }, '/spec/storage/roleArn'],
    ['one replica', { scaling: { minReplicas: 1 } }, '/spec/scaling/minReplicas'],
    ['more than 1000 replicas', { scaling: { maxReplicas: 1001 } }, '/spec/scaling/maxReplicas'],
    ['a vCPU count Fargate does not offer', { resources: { vcpu: 3 } }, '/spec/resources/vcpu'],
  ])('rejects %s at %s', (_case, spec, at) => {
    // GIVEN a minimal destination with one field broken WHEN validated
    const result = validateAgainstCrd(manifest(spec));
    // THEN the schema rejects it at that field
    expect(result.valid).toBe(false);
    expect(result.errors.map((error) => error.split(' ')[0])).toContain(at);
  });

  test('rejects a missing storage, tls or loadBalancer', () => {
    const { storage: _s, tls: _t, loadBalancer: _l, ...spec } = manifest()['spec'];
    const result = validateAgainstCrd({ ...manifest(), spec });
    expect(result.errors).toEqual(expect.arrayContaining([
      "/spec must have required property 'storage'",
      "/spec must have required property 'tls'",
      "/spec must have required property 'loadBalancer'",
    ]));
  });
});

describe('the CEL rules, which only a real API server evaluates', () => {
  // Each CEL rule of the CRD, with a spec that breaks it and the problem the controller reports for
  // the same spec: an object that reaches the controller without the API server's CEL check
  // (an older CRD, a stand-in) is still Degraded, never rendered.
  const CASES: [string, Loose, string, RegExp][] = [
    ['metadata.name', {}, 'Not_A_Label', /metadata\.name must be a DNS-1035 label/],
    ['internet-facing needs TLS', { loadBalancer: { scheme: 'internet-facing', sourceRanges: ['10.0.0.0/8'] } }, 'plain', /spec\.tls\.mode must be "passthrough" or "nlb" when loadBalancer\.scheme is "internet-facing"/],
    ['internet-facing is never open to all', { tls: { mode: 'passthrough', secretName: 'tls' }, loadBalancer: { scheme: 'internet-facing', sourceRanges: ['0.0.0.0/0'] } }, 'plain', /opens an internet-facing load balancer to every address/],
    ['passthrough needs secretName', { tls: { mode: 'passthrough' } }, 'plain', /spec\.tls\.secretName is required when tls\.mode is "passthrough"/],
    ['nlb needs certificateArn', { tls: { mode: 'nlb' } }, 'plain', /spec\.tls\.certificateArn is required when tls\.mode is "nlb"/],
    ['secretName only with passthrough', { tls: { mode: 'none', secretName: 'tls' } }, 'plain', /spec\.tls\.secretName applies only when tls\.mode is "passthrough"/],
    ['certificateArn only with nlb', { tls: { mode: 'none', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/12345678-1234-1234-1234-123456789012' } }, 'plain', /spec\.tls\.certificateArn applies only when tls\.mode is "nlb"/],
    ['min <= max replicas', { scaling: { minReplicas: 5, maxReplicas: 3 } }, 'plain', /spec\.scaling\.maxReplicas must be at least minReplicas \(5\), got 3/],
    ['isCIDR', { loadBalancer: { sourceRanges: ['1:2:3/64'] } }, 'plain', /spec\.loadBalancer\.sourceRanges\[0\] must be an IPv4 or IPv6 CIDR/],
  ];

  test('every CEL rule of the CRD has a case here', () => {
    const rules = nodes(DICOM_DESTINATION_SCHEMA).flatMap(([, node]) => node['x-kubernetes-validations'] ?? []);
    expect(rules).toHaveLength(CASES.length);
  });

  test.each(CASES)('%s: the controller refuses what the rule refuses', (_rule, spec, name, problem) => {
    // GIVEN a spec that breaks the rule WHEN the controller validates it THEN it reports the problem
    const destination = minimalDestination(name, spec);
    const result = validateDestination(destination.metadata.name, destination.spec, SETTINGS.defaultRoleArn);
    expect(result.ok ? [] : result.problems).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
  });
});

describe('the controller RBAC and Deployment', () => {
  const objects = Testing.synth((() => {
    const chart = Testing.chart();
    new DestinationOperator(chart, 'Operator', {
      namespace: 'dicom',
      environmentName: 'example',
      image: `${SETTINGS.listenerImage.split(':')[0]}:controller-0.1.0@sha256:${'0'.repeat(64)}`,
      listenerImage: SETTINGS.listenerImage,
      region: 'eu-west-1',
      listenerRoleArn: SETTINGS.defaultRoleArn ?? '',
      otlpEndpoint: SETTINGS.otlpEndpoint,
    });
    return chart;
  })()) as Loose[];
  const role = objects.find((object) => object['kind'] === 'Role') as Loose;
  const verbsOn = (group: string, resource: string): string[] => role['rules']
    .filter((rule: Loose) => rule['apiGroups'].includes(group) && rule['resources'].includes(resource))
    .flatMap((rule: Loose) => rule['verbs']);
  const PLURALS: Record<string, [string, string]> = {
    ServiceAccount: ['', 'serviceaccounts'], ConfigMap: ['', 'configmaps'], Service: ['', 'services'],
    Deployment: ['apps', 'deployments'], HorizontalPodAutoscaler: ['autoscaling', 'horizontalpodautoscalers'], PodDisruptionBudget: ['policy', 'poddisruptionbudgets'],
  };

  test('lets the controller read and server-side apply every child kind, and watch what moves the status', () => {
    // GIVEN every kind reconcile applies
    for (const { kind } of childReferences(minimalDestination())) {
      const [group, resource] = PLURALS[kind] ?? ['?', '?'];
      // THEN the Role grants get, and create plus patch (apply can create)
      expect(verbsOn(group, resource), kind).toEqual(expect.arrayContaining(['get', 'create', 'patch']));
    }
    expect(verbsOn('apps', 'deployments')).toEqual(expect.arrayContaining(['list', 'watch']));
    expect(verbsOn('', 'services')).toEqual(expect.arrayContaining(['list', 'watch']));
    expect(verbsOn('dicom.destination.io', 'dicomdestinations')).toEqual(['get', 'list', 'watch']);
    expect(verbsOn('dicom.destination.io', 'dicomdestinations/status')).toEqual(['patch']);
  });

  test('grants nothing more: no delete, no Secrets, no wildcard, one namespace', () => {
    const rules: Loose[] = role['rules'];
    expect(rules.flatMap((rule) => rule['verbs']).filter((verb: string) => ['delete', 'deletecollection', '*'].includes(verb))).toEqual([]);
    expect(rules.flatMap((rule) => rule['resources']).filter((resource: string) => resource === 'secrets' || resource.includes('*'))).toEqual([]);
    expect(role['metadata'].namespace).toBe('dicom');
    expect(objects.map((object) => object['kind'])).not.toContain('ClusterRole');
  });

  test('binds the Role to the controller ServiceAccount', () => {
    const binding = objects.find((object) => object['kind'] === 'RoleBinding') as Loose;
    expect(binding['roleRef']).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'dicom-destination-controller' });
    expect(binding['subjects']).toEqual([{ kind: 'ServiceAccount', name: 'dicom-destination-controller', namespace: 'dicom' }]);
  });

  test('runs one controller at a time with the listener settings in its env', () => {
    const deployment = objects.find((object) => object['kind'] === 'Deployment') as Loose;
    expect(deployment['spec']).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
    const env = Object.fromEntries(deployment['spec'].template.spec.containers[0].env.map((e: Loose) => [e['name'], e['value']]));
    expect(env).toMatchObject({ WATCH_NAMESPACE: 'dicom', LISTENER_IMAGE: SETTINGS.listenerImage, AWS_REGION: 'eu-west-1', ENVIRONMENT_NAME: 'example' });
    expect(fargateViolations(deployment['spec'].template.spec)).toEqual([]);
  });

  test.each([
    ['an unpinned controller image', { image: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/controller:latest' }, /image must not use the mutable tag "latest"/],
    ['a listener role that is not a role', { listenerRoleArn: 'arn:aws:iam::111122223333:user/x' }, /listenerRoleArn must be an IAM role ARN/],
  ])('rejects %s', (_case, patch, message) => {
    expect(() => new DestinationOperator(Testing.chart(), 'Operator', {
      namespace: 'dicom', environmentName: 'example', image: SETTINGS.listenerImage, listenerImage: SETTINGS.listenerImage,
      region: 'eu-west-1', listenerRoleArn: SETTINGS.defaultRoleArn ?? '', otlpEndpoint: SETTINGS.otlpEndpoint, ...patch,
    })).toThrow(message);
  });
});
