import { ApiObject } from 'cdk8s';
import type { Construct } from 'constructs';
import type { ICustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import type { IJSONSchemaProps } from 'kubernetes-models/apiextensions.k8s.io/v1/JSONSchemaProps';
import { recommendedLabels } from '../labels.ts';
import { SyncWave, syncWave } from '../sync-wave.ts';
import { GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from './dicom-destination.ts';
import { LIMITS, SCHEMES, TLS_MODES } from './validate.ts';

// Patterns for the API server, which evaluates them with Go's RE2: no look-around.
const AE_TITLE_PATTERN = '^[\\x21-\\x5b\\x5d-\\x7e]([\\x20-\\x5b\\x5d-\\x7e]{0,14}[\\x21-\\x5b\\x5d-\\x7e])?$';
const S3_URL_PATTERN = '^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^/\\s]+)*$';
const KEY_PREFIX_PATTERN = '^[^/\\s]+(/[^/\\s]+)*$';
const SECRET_NAME_PATTERN = '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$';
const IPV4_OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const CIDR_PATTERN = `^((${IPV4_OCTET}\\.){3}${IPV4_OCTET}/(3[0-2]|[12]?[0-9])|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$`;
const IAM_ROLE_PATTERN = '^arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:role/[\\w+=,.@/-]{1,512}$';
const KMS_KEY_PATTERN = '^arn:(aws|aws-cn|aws-us-gov):kms:[a-z0-9-]+:[0-9]{12}:(key/[0-9a-f-]{36}|key/mrk-[0-9a-f]{32}|alias/[\\w/-]+)$';
const ACM_CERTIFICATE_PATTERN = '^arn:(aws|aws-cn|aws-us-gov):acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$';
const KEY_TEMPLATE_PATTERN = '\\{SOPInstanceUID\\}';

const aeTitle = (description: string): IJSONSchemaProps => ({ type: 'string', description, minLength: 1, maxLength: 16, pattern: AE_TITLE_PATTERN });
const aeTitleSet = (description: string): IJSONSchemaProps => ({
  type: 'array',
  description,
  maxItems: LIMITS.callingAeTitles,
  'x-kubernetes-list-type': 'set',
  items: aeTitle('A calling AE title.'),
});
const keyTemplate = (description: string): IJSONSchemaProps => ({ type: 'string', description, minLength: 1, maxLength: 512, pattern: KEY_TEMPLATE_PATTERN });
const wholeNumber = (description: string, minimum: number, maximum: number, defaultValue?: number): IJSONSchemaProps => ({
  type: 'integer', description, minimum, maximum, ...(defaultValue === undefined ? {} : { default: defaultValue }),
});

const condition: IJSONSchemaProps = {
  type: 'object',
  required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
  properties: {
    type: { type: 'string', enum: ['Ready', 'Progressing', 'Degraded'] },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string', maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
    message: { type: 'string', maxLength: 32768 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
  },
};

/** The structural OpenAPI v3 schema of DicomDestination v1alpha1, as the API server enforces it. */
export const DICOM_DESTINATION_SCHEMA: IJSONSchemaProps = {
  type: 'object',
  description: 'A DICOM destination: a C-STORE listener fleet behind an NLB, storing every instance in S3.',
  required: ['spec'],
  'x-kubernetes-validations': [{
    rule: "self.metadata.name.matches('^[a-z]([-a-z0-9]{0,45}[a-z0-9])?$')",
    message: 'metadata.name must be a DNS-1035 label of at most 47 characters; it names the Deployment and Services',
  }],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['aeTitles', 'storage', 'tls', 'loadBalancer'],
      'x-kubernetes-validations': [{
        rule: "!has(self.loadBalancer.scheme) || self.loadBalancer.scheme != 'internet-facing' || self.tls.mode != 'none'",
        message: 'an internet-facing load balancer needs tls.mode "passthrough" or "nlb"; plain DICOM would cross the internet unencrypted',
      }],
      properties: {
        aeTitles: {
          type: 'array',
          description: 'Local (called) AE titles the PACS may send to, each with optional routing.',
          minItems: 1,
          maxItems: LIMITS.aeTitles,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['aeTitle'],
          items: {
            type: 'object',
            required: ['aeTitle'],
            properties: {
              aeTitle: aeTitle('The called AE title: 1-16 printable ASCII characters, no backslash, no leading or trailing space.'),
              callingAeTitles: aeTitleSet('Calling AE titles this AE title accepts, replacing spec.callingAeTitles for it; empty accepts any.'),
              prefix: { type: 'string', description: "Key prefix in the destination's bucket for this AE title, replacing the prefix of spec.storage.url.", maxLength: 512, pattern: KEY_PREFIX_PATTERN },
              keyTemplate: keyTemplate('Object key template for this AE title, replacing spec.storage.keyTemplate.'),
            },
          },
        },
        callingAeTitles: aeTitleSet('Calling AE titles allowed to associate with every AE title; absent or empty accepts any.'),
        maxAssociationsPerCallingAe: wholeNumber('Open associations one calling AE may hold at once.', LIMITS.maxAssociationsPerCallingAe.min, LIMITS.maxAssociationsPerCallingAe.max),
        storage: {
          type: 'object',
          required: ['url'],
          properties: {
            url: { type: 'string', description: 's3://<bucket> or s3://<bucket>/<prefix>.', maxLength: 1024, pattern: S3_URL_PATTERN },
            keyTemplate: keyTemplate('Object key template; placeholders {prefix}, {StudyInstanceUID}, {SeriesInstanceUID}, {SOPInstanceUID}, {SOPClassUID}, {CallingAETitle}, {CalledAETitle}. Must contain {SOPInstanceUID}.'),
            kmsKeyArn: { type: 'string', description: "SSE-KMS key; absent uses the bucket's default encryption.", pattern: KMS_KEY_PATTERN },
            roleArn: { type: 'string', description: "IAM role the listener pods assume through IRSA; it must trust the ServiceAccount named like this object. Absent uses the controller's default.", pattern: IAM_ROLE_PATTERN },
          },
        },
        tls: {
          type: 'object',
          required: ['mode'],
          'x-kubernetes-validations': [
            { rule: "self.mode != 'passthrough' || has(self.secretName)", message: 'secretName is required when mode is "passthrough"' },
            { rule: "self.mode != 'nlb' || has(self.certificateArn)", message: 'certificateArn is required when mode is "nlb"' },
            { rule: "self.mode == 'passthrough' || (!has(self.secretName) && !has(self.requireClientCertificate))", message: 'secretName and requireClientCertificate apply only when mode is "passthrough"' },
            { rule: "self.mode == 'nlb' || !has(self.certificateArn)", message: 'certificateArn applies only when mode is "nlb"' },
          ],
          properties: {
            mode: { type: 'string', description: 'none: plain DICOM on 11112. passthrough: the listener terminates TLS on 2762 (mutual TLS possible). nlb: the NLB terminates TLS on 2762 with an ACM certificate.', enum: [...TLS_MODES] },
            secretName: { type: 'string', description: 'passthrough: a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt, in this namespace.', maxLength: 253, pattern: SECRET_NAME_PATTERN },
            requireClientCertificate: { type: 'boolean', description: 'passthrough: callers must present a certificate signed by ca.crt. Default true.' },
            certificateArn: { type: 'string', description: 'nlb: the ACM certificate.', pattern: ACM_CERTIFICATE_PATTERN },
          },
        },
        loadBalancer: {
          type: 'object',
          required: ['sourceRanges'],
          'x-kubernetes-validations': [{
            rule: "!has(self.scheme) || self.scheme != 'internet-facing' || self.sourceRanges.all(r, !r.endsWith('/0'))",
            message: "an internet-facing load balancer must not be open to every address; list the sites' CIDRs",
          }],
          properties: {
            scheme: { type: 'string', description: 'internal (private addresses) or internet-facing.', enum: [...SCHEMES], default: 'internal' },
            sourceRanges: {
              type: 'array',
              description: 'Client CIDRs allowed through the NLB (enforced on its security group against the real client IP).',
              minItems: 1,
              maxItems: LIMITS.sourceRanges,
              'x-kubernetes-list-type': 'set',
              items: {
                type: 'string',
                maxLength: 43,
                pattern: CIDR_PATTERN,
                'x-kubernetes-validations': [{ rule: 'isCIDR(self)', message: 'must be an IPv4 or IPv6 CIDR such as 10.0.0.0/16' }],
              },
            },
          },
        },
        scaling: {
          type: 'object',
          default: {},
          'x-kubernetes-validations': [{ rule: 'self.minReplicas <= self.maxReplicas', message: 'maxReplicas must be at least minReplicas' }],
          properties: {
            minReplicas: wholeNumber('Fewest pods; at least 2 so one can be disrupted while the other accepts.', LIMITS.replicas.min, LIMITS.replicas.max, 2),
            maxReplicas: wholeNumber('Most pods the autoscaler may run.', LIMITS.replicas.min, LIMITS.replicas.max, 10),
            targetCpuUtilizationPercent: wholeNumber('Average CPU utilisation the autoscaler aims for.', 1, 100, 70),
          },
        },
        resources: {
          type: 'object',
          default: {},
          description: 'The Fargate size of each pod; requests equal limits, sized so Fargate bills exactly this size.',
          properties: {
            vcpu: { type: 'number', description: 'vCPUs per pod.', enum: [0.25, 0.5, 1, 2, 4, 8, 16], default: 1 },
            memoryGiB: { type: 'number', description: 'Memory per pod in GiB; must be a valid Fargate combination with vcpu.', minimum: 0.5, maximum: 120, default: 2 },
          },
        },
      },
    },
    status: {
      type: 'object',
      properties: {
        observedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'The metadata.generation this status describes.' },
        endpoint: { type: 'string', description: 'host:port the PACS sends to, once the NLB has an address.' },
        loadBalancer: {
          type: 'object',
          properties: {
            hostname: { type: 'string', description: "The NLB's DNS name." },
            ip: { type: 'string', description: 'The address, when the load balancer has an IP rather than a name (e.g. MetalLB on kind).' },
            ports: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'port', 'protocol'],
                properties: { name: { type: 'string' }, port: { type: 'integer', format: 'int32' }, protocol: { type: 'string' } },
              },
            },
          },
        },
        conditions: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['type'],
          items: condition,
        },
      },
    },
  },
};

/** The DicomDestination CustomResourceDefinition object. */
export function dicomDestinationCrd(environmentName: string): ICustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      labels: recommendedLabels('dicom-destination-controller', 'operator', environmentName),
      annotations: {
        ...syncWave(SyncWave.WORKLOAD),
        // Deleting the CRD deletes every DicomDestination, and through owner references every listener fleet.
        'argocd.argoproj.io/sync-options': 'Prune=false',
      },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: [...SHORT_NAMES], categories: ['dicom'] },
      versions: [{
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: { openAPIV3Schema: DICOM_DESTINATION_SCHEMA },
        additionalPrinterColumns: [
          { name: 'AE Title', type: 'string', jsonPath: '.spec.aeTitles[0].aeTitle', description: 'The first called AE title.' },
          { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint', description: 'host:port the PACS sends to.' },
          { name: 'TLS', type: 'string', jsonPath: '.spec.tls.mode' },
          { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
          { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1 },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
      }],
    },
  };
}

/** Renders the CRD into a chart. */
export function createDicomDestinationCrd(scope: Construct, id: string, environmentName: string): ApiObject {
  return new ApiObject(scope, id, dicomDestinationCrd(environmentName));
}
