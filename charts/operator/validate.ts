import { isIP } from 'node:net';
import { parseKeyTemplate } from '../../listener/config-values.ts';
import { ACM_CERTIFICATE_ARN, IAM_ROLE_ARN, KMS_KEY_ARN } from '../aws-arns.ts';
import { fargateResources } from '../fargate-size.ts';
import type { CalledAePolicy } from '../listener-policy.ts';
import type { LoadBalancerScheme, TlsMode } from './dicom-destination.ts';

/**
 * A DicomDestination spec the constructs can render: defaults filled in, every rule checked.
 * The rules are the CRD schema's (patterns, enums, bounds, CEL) plus what only the constructs know
 * (valid Fargate sizes, key-template placeholders).
 */
export interface DestinationSettings {
  readonly name: string;
  readonly aeTitles: readonly string[];
  readonly aePolicies: readonly CalledAePolicy[];
  readonly callingAeTitles?: readonly string[];
  readonly maxAssociationsPerCallingAe?: number;
  readonly bucket: string;
  readonly prefix: string;
  readonly keyTemplate?: string;
  readonly kmsKeyArn?: string;
  readonly roleArn: string;
  readonly tls:
    | { readonly mode: 'none' }
    | { readonly mode: 'passthrough'; readonly secretName: string; readonly requireClientCertificate: boolean }
    | { readonly mode: 'nlb'; readonly certificateArn: string };
  readonly scheme: LoadBalancerScheme;
  readonly sourceRanges: readonly string[];
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly targetCpuUtilizationPercent: number;
  readonly vcpu: number;
  readonly memoryGiB: number;
}

export type ValidationResult =
  | { readonly ok: true; readonly settings: DestinationSettings }
  | { readonly ok: false; readonly problems: readonly string[] };

/** Names become `<name>`, `<name>-policy` and `<name>-ops`; Services need DNS-1035 labels, and pod names stay under 63. */
export const DESTINATION_NAME = /^[a-z]([-a-z0-9]{0,45}[a-z0-9])?$/;
/** PS3.5 6.2: 1-16 printable ASCII characters, no backslash; spaces pad, so none at the ends. */
export const AE_TITLE = /^[\x21-\x5b\x5d-\x7e]([\x20-\x5b\x5d-\x7e]{0,14}[\x21-\x5b\x5d-\x7e])?$/;
export const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/[^/\s]+)*$/;
export const KEY_PREFIX = /^[^/\s]+(\/[^/\s]+)*$/;
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
export const TLS_MODES: readonly TlsMode[] = ['none', 'passthrough', 'nlb'];
export const SCHEMES: readonly LoadBalancerScheme[] = ['internal', 'internet-facing'];
export const LIMITS = {
  aeTitles: 16,
  callingAeTitles: 64,
  sourceRanges: 64,
  replicas: { min: 2, max: 1000 },
  maxAssociationsPerCallingAe: { min: 1, max: 10_000 },
} as const;

/** IPv4 or IPv6 CIDR with an explicit prefix length. */
export function isCidr(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash === -1) return false;
  const family = isIP(value.slice(0, slash));
  const bits = value.slice(slash + 1);
  return family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Collects every problem, so one status message lists all of them. */
class Problems {
  readonly list: string[] = [];
  add(path: string, reason: string): void {
    this.list.push(`${path} ${reason}`);
  }
}

function record(problems: Problems, value: unknown, path: string, required: boolean): Record<string, unknown> | undefined {
  if (value === undefined && !required) return undefined;
  if (!isRecord(value)) {
    problems.add(path, value === undefined ? 'is required' : 'must be an object');
    return undefined;
  }
  return value;
}

function text(problems: Problems, value: unknown, path: string, pattern: RegExp, what: string): string | undefined {
  if (typeof value !== 'string') {
    problems.add(path, value === undefined ? 'is required' : 'must be a string');
    return undefined;
  }
  if (!pattern.test(value)) {
    problems.add(path, `must be ${what}, got ${JSON.stringify(value)}`);
    return undefined;
  }
  return value;
}

function wholeNumber(problems: Problems, value: unknown, path: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    problems.add(path, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return fallback;
  }
  return value;
}

function aeTitleList(problems: Problems, value: unknown, path: string, maxItems: number): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    problems.add(path, 'must be a list of AE titles');
    return undefined;
  }
  if (value.length > maxItems) problems.add(path, `must list at most ${maxItems} AE titles, got ${value.length}`);
  const titles: string[] = [];
  value.forEach((title: unknown, i) => {
    const checked = text(problems, title, `${path}[${i}]`, AE_TITLE, '1-16 printable ASCII characters without backslash or leading/trailing space');
    if (checked === undefined) return;
    if (titles.includes(checked)) problems.add(path, `lists ${JSON.stringify(checked)} twice`);
    else titles.push(checked);
  });
  return titles;
}

function keyTemplate(problems: Problems, value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    problems.add(path, 'must be a non-empty string');
    return undefined;
  }
  try {
    // The listener's own rule: a template it would refuse at start-up would crash-loop every pod.
    return parseKeyTemplate(path, value);
  } catch (error) {
    problems.list.push((error as Error).message);
    return undefined;
  }
}

/**
 * Checks a DicomDestination's name and spec. Never throws: everything wrong is returned, each
 * problem naming the field (`spec.tls.secretName is required when tls.mode is "passthrough"`).
 *
 * @param defaultRoleArn the controller's listener role, used when `spec.storage.roleArn` is absent
 */
export function validateDestination(name: string, spec: unknown, defaultRoleArn: string | undefined): ValidationResult {
  const problems = new Problems();
  if (!DESTINATION_NAME.test(name)) {
    problems.add('metadata.name', `must be a DNS-1035 label of at most 47 characters (it names the Deployment and Services), got ${JSON.stringify(name)}`);
  }
  const root = record(problems, spec, 'spec', true) ?? {};

  // AE titles and routing.
  const aeTitles: string[] = [];
  const aePolicies: CalledAePolicy[] = [];
  const routes = root['aeTitles'];
  const storageInput = record(problems, root['storage'], 'spec.storage', true);
  const storage = storageInput ?? {};
  const url = storageInput === undefined ? undefined : text(problems, storage['url'], 'spec.storage.url', S3_URL, 's3://<bucket> or s3://<bucket>/<prefix>');
  const bucket = url === undefined ? '' : (S3_URL.exec(url)?.[1] ?? '');
  const prefix = url === undefined ? '' : url.slice(`s3://${bucket}`.length).replace(/^\//, '');
  if (!Array.isArray(routes) || routes.length === 0 || routes.length > LIMITS.aeTitles) {
    problems.add('spec.aeTitles', `must list 1 to ${LIMITS.aeTitles} AE titles`);
  } else {
    routes.forEach((route: unknown, i) => {
      const path = `spec.aeTitles[${i}]`;
      const entry = record(problems, route, path, true);
      if (entry === undefined) return;
      const aeTitle = text(problems, entry['aeTitle'], `${path}.aeTitle`, AE_TITLE, '1-16 printable ASCII characters without backslash or leading/trailing space');
      const callers = aeTitleList(problems, entry['callingAeTitles'], `${path}.callingAeTitles`, LIMITS.callingAeTitles);
      const routePrefix = entry['prefix'] === undefined ? undefined : text(problems, entry['prefix'], `${path}.prefix`, KEY_PREFIX, 'a key prefix without leading, trailing or doubled slash');
      const template = keyTemplate(problems, entry['keyTemplate'], `${path}.keyTemplate`);
      if (aeTitle === undefined) return;
      if (aeTitles.includes(aeTitle)) {
        problems.add('spec.aeTitles', `lists ${JSON.stringify(aeTitle)} twice`);
        return;
      }
      aeTitles.push(aeTitle);
      aePolicies.push({
        aeTitle,
        ...(callers === undefined ? {} : { allowedCallingAeTitles: callers }),
        ...(routePrefix === undefined ? {} : { storageUrl: `s3://${bucket}/${routePrefix}` }),
        ...(template === undefined ? {} : { keyTemplate: template }),
      });
    });
  }
  const callingAeTitles = aeTitleList(problems, root['callingAeTitles'], 'spec.callingAeTitles', LIMITS.callingAeTitles);
  const maxAssociationsPerCallingAe = root['maxAssociationsPerCallingAe'] === undefined
    ? undefined
    : wholeNumber(problems, root['maxAssociationsPerCallingAe'], 'spec.maxAssociationsPerCallingAe', 1,
      LIMITS.maxAssociationsPerCallingAe.min, LIMITS.maxAssociationsPerCallingAe.max);

  // Storage.
  const storageKeyTemplate = keyTemplate(problems, storage['keyTemplate'], 'spec.storage.keyTemplate');
  const kmsKeyArn = storage['kmsKeyArn'] === undefined
    ? undefined
    : text(problems, storage['kmsKeyArn'], 'spec.storage.kmsKeyArn', KMS_KEY_ARN, 'a KMS key or alias ARN');
  let roleArn: string | undefined;
  if (storage['roleArn'] !== undefined) {
    roleArn = text(problems, storage['roleArn'], 'spec.storage.roleArn', IAM_ROLE_ARN, 'an IAM role ARN');
  } else if (defaultRoleArn === undefined) {
    problems.add('spec.storage.roleArn', 'is required: the controller has no default listener role (LISTENER_ROLE_ARN)');
  } else {
    roleArn = defaultRoleArn;
  }

  // TLS.
  const tlsRecord = record(problems, root['tls'], 'spec.tls', true);
  const tlsInput = tlsRecord ?? {};
  const mode = tlsInput['mode'];
  let tls: DestinationSettings['tls'] | undefined;
  if (tlsRecord === undefined) {
    // Reported above.
  } else if (typeof mode !== 'string' || !(TLS_MODES as readonly string[]).includes(mode)) {
    problems.add('spec.tls.mode', `must be one of ${TLS_MODES.map((m) => `"${m}"`).join(', ')}, got ${JSON.stringify(mode)}`);
  } else {
    const foreign = (field: string, belongsTo: string) => {
      if (tlsInput[field] !== undefined) problems.add(`spec.tls.${field}`, `applies only when tls.mode is "${belongsTo}", not "${mode}"`);
    };
    if (mode !== 'passthrough') {
      foreign('secretName', 'passthrough');
      foreign('requireClientCertificate', 'passthrough');
    }
    if (mode !== 'nlb') foreign('certificateArn', 'nlb');
    if (mode === 'passthrough') {
      const secretName = tlsInput['secretName'] === undefined
        ? (problems.add('spec.tls.secretName', 'is required when tls.mode is "passthrough"'), undefined)
        : text(problems, tlsInput['secretName'], 'spec.tls.secretName', DNS_SUBDOMAIN, 'a Kubernetes Secret name');
      const require = tlsInput['requireClientCertificate'] ?? true;
      if (typeof require !== 'boolean') problems.add('spec.tls.requireClientCertificate', 'must be true or false');
      if (secretName !== undefined) tls = { mode, secretName, requireClientCertificate: require !== false };
    } else if (mode === 'nlb') {
      const certificateArn = tlsInput['certificateArn'] === undefined
        ? (problems.add('spec.tls.certificateArn', 'is required when tls.mode is "nlb"'), undefined)
        : text(problems, tlsInput['certificateArn'], 'spec.tls.certificateArn', ACM_CERTIFICATE_ARN, 'an ACM certificate ARN');
      if (certificateArn !== undefined) tls = { mode, certificateArn };
    } else {
      tls = { mode: 'none' };
    }
  }

  // Load balancer.
  const loadBalancerRecord = record(problems, root['loadBalancer'], 'spec.loadBalancer', true);
  const loadBalancer = loadBalancerRecord ?? {};
  const scheme = loadBalancer['scheme'] ?? 'internal';
  if (typeof scheme !== 'string' || !(SCHEMES as readonly string[]).includes(scheme)) {
    problems.add('spec.loadBalancer.scheme', `must be "internal" or "internet-facing", got ${JSON.stringify(scheme)}`);
  }
  const internetFacing = scheme === 'internet-facing';
  if (internetFacing && mode === 'none') {
    problems.add('spec.tls.mode', 'must be "passthrough" or "nlb" when loadBalancer.scheme is "internet-facing"; plain DICOM would cross the internet unencrypted');
  }
  const sourceRanges: string[] = [];
  const ranges = loadBalancer['sourceRanges'];
  if (loadBalancerRecord === undefined) {
    // Reported above.
  } else if (!Array.isArray(ranges) || ranges.length === 0 || ranges.length > LIMITS.sourceRanges) {
    problems.add('spec.loadBalancer.sourceRanges', `must list 1 to ${LIMITS.sourceRanges} CIDRs; an empty list would open the load balancer to everyone`);
  } else {
    ranges.forEach((range: unknown, i) => {
      const path = `spec.loadBalancer.sourceRanges[${i}]`;
      if (typeof range !== 'string' || !isCidr(range)) {
        problems.add(path, `must be an IPv4 or IPv6 CIDR such as 10.0.0.0/16, got ${JSON.stringify(range)}`);
      } else if (internetFacing && range.endsWith('/0')) {
        problems.add(path, `"${range}" opens an internet-facing load balancer to every address; list the sites' CIDRs`);
      } else if (sourceRanges.includes(range)) {
        problems.add('spec.loadBalancer.sourceRanges', `lists "${range}" twice`);
      } else {
        sourceRanges.push(range);
      }
    });
  }

  // Scaling and size.
  const scaling = record(problems, root['scaling'], 'spec.scaling', false) ?? {};
  const minReplicas = wholeNumber(problems, scaling['minReplicas'], 'spec.scaling.minReplicas', 2, LIMITS.replicas.min, LIMITS.replicas.max);
  const maxReplicas = wholeNumber(problems, scaling['maxReplicas'], 'spec.scaling.maxReplicas', 10, LIMITS.replicas.min, LIMITS.replicas.max);
  if (maxReplicas < minReplicas) problems.add('spec.scaling.maxReplicas', `must be at least minReplicas (${minReplicas}), got ${maxReplicas}`);
  const targetCpuUtilizationPercent = wholeNumber(problems, scaling['targetCpuUtilizationPercent'], 'spec.scaling.targetCpuUtilizationPercent', 70, 1, 100);
  const resources = record(problems, root['resources'], 'spec.resources', false) ?? {};
  const vcpu = resources['vcpu'] ?? 1;
  const memoryGiB = resources['memoryGiB'] ?? 2;
  if (typeof vcpu !== 'number' || typeof memoryGiB !== 'number') {
    problems.add('spec.resources', 'vcpu and memoryGiB must be numbers');
  } else {
    try {
      fargateResources('spec.resources', vcpu, memoryGiB);
    } catch (error) {
      problems.list.push((error as Error).message);
    }
  }

  if (problems.list.length > 0 || tls === undefined || roleArn === undefined) {
    return { ok: false, problems: problems.list };
  }
  return {
    ok: true,
    settings: {
      name,
      aeTitles,
      aePolicies,
      ...(callingAeTitles === undefined || callingAeTitles.length === 0 ? {} : { callingAeTitles }),
      ...(maxAssociationsPerCallingAe === undefined ? {} : { maxAssociationsPerCallingAe }),
      bucket,
      prefix,
      ...(storageKeyTemplate === undefined ? {} : { keyTemplate: storageKeyTemplate }),
      ...(kmsKeyArn === undefined ? {} : { kmsKeyArn }),
      roleArn,
      tls,
      scheme: scheme as LoadBalancerScheme,
      sourceRanges,
      minReplicas,
      maxReplicas,
      targetCpuUtilizationPercent,
      vcpu: vcpu as number,
      memoryGiB: memoryGiB as number,
    },
  };
}
