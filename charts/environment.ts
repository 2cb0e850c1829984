import { isIP } from 'node:net';
import { ACM_CERTIFICATE_ARN, IAM_ROLE_ARN, KMS_KEY_ARN } from './aws-arns.ts';
import { ecrImageProblem } from './image-reference.ts';

/**
 * Everything that differs between deployments of the DICOM destination. infra/ produces it from
 * stack outputs; charts/ renders it. Nothing else crosses that line.
 */
export interface EnvironmentConfig {
  /** Environment name; a DNS label, used in resource names and as the `k8s/<name>/` folder. */
  name: string;
  /** AWS region of the cluster, bucket and telemetry, e.g. `eu-west-1`. */
  region: string;
  /** EKS cluster name. */
  clusterName: string;
  /** `<ecrRepositoryUri>:<immutable tag>` or `<ecrRepositoryUri>@sha256:<digest>`. */
  image: string;
  /** IAM role the listener's ServiceAccount assumes through IRSA (S3 and KMS access). */
  listenerRoleArn: string;
  /** IAM role the ADOT collector's ServiceAccount assumes through IRSA (X-Ray and CloudWatch). */
  collectorRoleArn: string;
  /** S3 bucket every instance is stored in. */
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash; empty for the bucket root. */
  prefix: string;
  /** KMS key for SSE-KMS; omitted means the bucket's default encryption. */
  kmsKeyArn?: string;
  /** Local AE titles the listener answers to. */
  aeTitles: string[];
  /** Client CIDRs allowed through the load balancer. */
  sourceCidrs: string[];
  /** Load balancer scheme. */
  scheme: 'internal' | 'internet-facing';
  /**
   * `none`: plain DICOM on 11112. `passthrough`: the listener terminates TLS (mTLS possible) with
   * the named kubernetes.io/tls Secret. `nlb`: the NLB terminates TLS with an ACM certificate.
   */
  tls: { mode: 'none' } | { mode: 'passthrough'; secretName: string } | { mode: 'nlb'; certificateArn: string };
  /**
   * Image of the DicomDestination controller (`charts/operator/Dockerfile`), ECR, pinned. When set,
   * the CRD, the controller and its RBAC are rendered too (see docs/operator.md).
   */
  controllerImage?: string;
}

const KEYS = [
  'name', 'region', 'clusterName', 'image', 'listenerRoleArn', 'collectorRoleArn',
  'bucket', 'prefix', 'kmsKeyArn', 'aeTitles', 'sourceCidrs', 'scheme', 'tls', 'controllerImage',
];

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function fail(field: string, reason: string): never {
  throw new Error(`invalid environment config: ${field} ${reason}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(input: Record<string, unknown>, field: string, path = field): string {
  const value = input[field];
  if (typeof value !== 'string' || value.length === 0) fail(path, 'must be a non-empty string');
  return value;
}

function matching(input: Record<string, unknown>, field: string, pattern: RegExp, what: string, path = field): string {
  const value = text(input, field, path);
  if (!pattern.test(value)) fail(path, `must be ${what}, got "${value}"`);
  return value;
}

function list(input: Record<string, unknown>, field: string): string[] {
  const value = input[field];
  if (!Array.isArray(value) || value.length === 0) fail(field, 'must be a non-empty array of strings');
  value.forEach((item, i) => {
    if (typeof item !== 'string') fail(`${field}[${i}]`, 'must be a string');
  });
  const items = value as string[];
  const duplicate = items.find((item, i) => items.indexOf(item) !== i);
  if (duplicate !== undefined) fail(field, `lists "${duplicate}" twice`);
  return [...items];
}

function image(input: Record<string, unknown>, field = 'image'): string {
  const value = text(input, field);
  const problem = ecrImageProblem(value);
  if (problem !== undefined) fail(field, problem);
  return value;
}

function aeTitles(input: Record<string, unknown>): string[] {
  const titles = list(input, 'aeTitles');
  titles.forEach((title, i) => {
    // PS3.5 6.2: AE is at most 16 characters of the default repertoire, no backslash; spaces pad, so none at the ends.
    if (title.length > 16 || !/^[\x20-\x7e]+$/.test(title) || title.includes('\\') || title.trim() !== title) {
      fail(`aeTitles[${i}]`, `"${title}" must be 1-16 printable ASCII characters, no backslash, no leading or trailing space`);
    }
  });
  return titles;
}

function isCidr(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash === -1) return false;
  const address = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  const family = isIP(address);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function sourceCidrs(input: Record<string, unknown>, scheme: EnvironmentConfig['scheme']): string[] {
  const cidrs = list(input, 'sourceCidrs');
  cidrs.forEach((cidr, i) => {
    if (!isCidr(cidr)) fail(`sourceCidrs[${i}]`, `must be an IPv4 or IPv6 CIDR such as 10.0.0.0/16, got "${cidr}"`);
    // An internet-facing DICOM port open to the world is a PHI exposure, never a default.
    if (scheme === 'internet-facing' && /\/0$/.test(cidr)) {
      fail(`sourceCidrs[${i}]`, `"${cidr}" opens an internet-facing load balancer to every address; list the sites' CIDRs`);
    }
  });
  return cidrs;
}

function tls(input: Record<string, unknown>): EnvironmentConfig['tls'] {
  const value = input['tls'];
  if (!isRecord(value)) fail('tls', 'must be an object with a mode of "none", "passthrough" or "nlb"');
  const allowed: Record<string, string[]> = { none: ['mode'], passthrough: ['mode', 'secretName'], nlb: ['mode', 'certificateArn'] };
  const mode = value['mode'];
  const keys = typeof mode === 'string' ? allowed[mode] : undefined;
  if (keys === undefined) fail('tls.mode', `must be "none", "passthrough" or "nlb", got ${JSON.stringify(mode)}`);
  const unknown = Object.keys(value).find((key) => !keys.includes(key));
  if (unknown !== undefined) fail(`tls.${unknown}`, `is not a field of tls mode "${String(mode)}"`);
  if (mode === 'passthrough') {
    return { mode, secretName: matching(value, 'secretName', DNS_SUBDOMAIN, 'a Kubernetes Secret name', 'tls.secretName') };
  }
  if (mode === 'nlb') {
    return { mode, certificateArn: matching(value, 'certificateArn', ACM_CERTIFICATE_ARN, 'an ACM certificate ARN', 'tls.certificateArn') };
  }
  return { mode: 'none' };
}

/** Validates an environment config (e.g. parsed JSON). Throws an Error naming the field and the reason. */
export function validateEnvironment(input: unknown): EnvironmentConfig {
  if (!isRecord(input)) fail('(root)', 'must be an object');
  const unknown = Object.keys(input).find((key) => !KEYS.includes(key));
  if (unknown !== undefined) fail(unknown, `is not a known field; expected ${KEYS.join(', ')}`);

  const prefix = input['prefix'];
  if (typeof prefix !== 'string') fail('prefix', 'must be a string (empty for the bucket root)');
  if (prefix.startsWith('/') || prefix.endsWith('/') || prefix.includes('//')) {
    fail('prefix', `must have no leading, trailing or doubled slash, got "${prefix}"`);
  }
  const scheme = input['scheme'];
  if (scheme !== 'internal' && scheme !== 'internet-facing') {
    fail('scheme', `must be "internal" or "internet-facing", got ${JSON.stringify(scheme)}`);
  }
  const kmsKeyArn = input['kmsKeyArn'] === undefined
    ? undefined
    : matching(input, 'kmsKeyArn', KMS_KEY_ARN, 'a KMS key or alias ARN');
  const tlsConfig = tls(input);
  if (scheme === 'internet-facing' && tlsConfig.mode === 'none') {
    fail('tls.mode', 'must be "passthrough" or "nlb" when scheme is "internet-facing"; plain DICOM would cross the internet unencrypted');
  }
  return {
    name: matching(input, 'name', DNS_LABEL, 'a DNS label (lowercase letters, digits, hyphens; at most 63)'),
    region: matching(input, 'region', REGION, 'an AWS region such as eu-west-1'),
    clusterName: matching(input, 'clusterName', /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, 'an EKS cluster name'),
    image: image(input),
    listenerRoleArn: matching(input, 'listenerRoleArn', IAM_ROLE_ARN, 'an IAM role ARN'),
    collectorRoleArn: matching(input, 'collectorRoleArn', IAM_ROLE_ARN, 'an IAM role ARN'),
    bucket: matching(input, 'bucket', BUCKET, 'an S3 bucket name'),
    prefix,
    ...(kmsKeyArn === undefined ? {} : { kmsKeyArn }),
    aeTitles: aeTitles(input),
    sourceCidrs: sourceCidrs(input, scheme),
    scheme,
    tls: tlsConfig,
    ...(input['controllerImage'] === undefined ? {} : { controllerImage: image(input, 'controllerImage') }),
  };
}
