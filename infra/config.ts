import { readFileSync } from 'node:fs';
import { destinationRoleOutputKey } from './stack-outputs.ts';

/** A Kubernetes service account that an IRSA role trusts. */
export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

/** A DicomDestination that gets its own IRSA role: its ServiceAccount is `<listener namespace>:<name>`. */
export interface DestinationRef {
  /** The DicomDestination's name, which is also its ServiceAccount's name. */
  readonly name: string;
  /** Key prefix (no leading or trailing slash) the destination's role may write under. */
  readonly prefix: string;
}

/** Thresholds for the listener alarms, counted over five-minute windows. */
export interface AlarmThresholds {
  readonly storeFailures: number;
  readonly rejectedAssociations: number;
}

/**
 * Everything that differs between deployments of the DICOM destination.
 *
 * Built only by {@link parseDeploymentConfig}, so every value has been checked.
 */
export interface DeploymentConfig {
  /** Short environment name (`prod`, `staging`); part of the stack and resource names. */
  readonly name: string;
  /** AWS account the stack deploys to; `cdk deploy` refuses credentials for another account. */
  readonly account: string;
  readonly region: string;
  /** Two or three zones of `region`; listed explicitly so synth needs no AWS lookup. */
  readonly availabilityZones: readonly string[];
  readonly vpcCidr: string;
  /** NAT gateways; one per zone unless lowered (fewer makes egress depend on one zone). */
  readonly natGateways: number;
  readonly clusterName: string;
  /** IAM role granted cluster-admin through an EKS access entry. */
  readonly adminRoleArn: string;
  /** CIDRs allowed to reach a public API endpoint; empty keeps the endpoint private only. */
  readonly publicEndpointCidrs: readonly string[];
  /** Key prefix (no leading or trailing slash) the listener may write under. */
  readonly storagePrefix: string;
  readonly intelligentTieringAfterDays: number;
  readonly noncurrentVersionExpirationDays: number;
  /** Retention of every log group; one of the values CloudWatch Logs accepts. */
  readonly logRetentionDays: number;
  readonly ecrRepositoryName: string;
  /** The operator controller's image repository; must differ from `ecrRepositoryName`. */
  readonly controllerEcrRepositoryName: string;
  /** Images kept in each image repository; older ones expire. */
  readonly ecrMaxImageCount: number;
  readonly listener: ServiceAccountRef;
  readonly collector: ServiceAccountRef;
  readonly loadBalancerController: ServiceAccountRef;
  /** Addresses subscribed to the alarm topic; more can be added outside the stack. */
  readonly alarmEmails: readonly string[];
  readonly alarmThresholds: AlarmThresholds;
  /** DicomDestinations (in the listener namespace) that each get a role limited to their own prefix. */
  readonly destinations: readonly DestinationRef[];
}

/** A deployment config value that failed validation. */
export class DeploymentConfigError extends Error {
  readonly field: string;
  constructor(field: string, reason: string) {
    super(`Invalid deployment config: ${field} ${reason}`);
    this.name = 'DeploymentConfigError';
    this.field = field;
  }
}

/** The values CloudWatch Logs accepts for RetentionInDays. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const KEY_PREFIX = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const KEY_PREFIX_RULE = 'must be a key prefix of letters, digits, ".", "_" or "-" segments joined by "/", with no leading or trailing slash';
const ECR_REPOSITORY_NAME = /^(?=.{2,256}$)[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const ECR_REPOSITORY_NAME_RULE = 'must be a valid ECR repository name (lowercase segments joined by "/")';
/** The operator's DicomDestination name rule (DESTINATION_NAME in charts/operator/validate.ts): a DNS-1035 label of at most 47 characters. */
export const DESTINATION_NAME = /^[a-z]([-a-z0-9]{0,45}[a-z0-9])?$/;
const KNOWN_FIELDS = new Set([
  'name', 'account', 'region', 'availabilityZones', 'vpcCidr', 'natGateways', 'clusterName', 'adminRoleArn',
  'publicEndpointCidrs', 'storagePrefix', 'intelligentTieringAfterDays', 'noncurrentVersionExpirationDays',
  'logRetentionDays', 'ecrRepositoryName', 'controllerEcrRepositoryName', 'ecrMaxImageCount', 'listener', 'collector',
  'loadBalancerController', 'alarmEmails', 'alarmThresholds', 'destinations',
]);

/**
 * Validates raw config (parsed JSON) and fills in defaults.
 *
 * @throws DeploymentConfigError naming the first field that is wrong and why.
 */
export function parseDeploymentConfig(input: unknown): DeploymentConfig {
  const raw = record(input, 'config');
  for (const key of Object.keys(raw)) {
    if (!KNOWN_FIELDS.has(key)) throw new DeploymentConfigError(key, 'is not a known field');
  }

  const name = matching(raw, 'name', /^[a-z][a-z0-9-]{0,19}$/, 'must be 1-20 lowercase letters, digits or hyphens, starting with a letter');
  const account = matching(raw, 'account', /^\d{12}$/, 'must be a 12-digit AWS account ID');
  const region = matching(raw, 'region', /^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region code such as eu-west-1');
  const availabilityZones = zones(raw, region);
  const vpcCidr = cidr(raw, 'vpcCidr', '10.40.0.0/16', { minPrefix: 16, maxPrefix: 20 });
  const listener = serviceAccount(raw, 'listener', { namespace: 'dicom', name: 'dicom-listener' });
  const ecrRepositoryName = matching(raw, 'ecrRepositoryName', ECR_REPOSITORY_NAME, ECR_REPOSITORY_NAME_RULE, `dicom-destination/${name}/listener`);
  const controllerEcrRepositoryName = matching(raw, 'controllerEcrRepositoryName', ECR_REPOSITORY_NAME, ECR_REPOSITORY_NAME_RULE, `dicom-destination/${name}/controller`);
  if (controllerEcrRepositoryName === ecrRepositoryName) {
    throw new DeploymentConfigError('controllerEcrRepositoryName', `must differ from ecrRepositoryName ("${ecrRepositoryName}"); the listener and the controller each get their own repository`);
  }

  return {
    name,
    account,
    region,
    availabilityZones,
    vpcCidr,
    natGateways: integer(raw, 'natGateways', availabilityZones.length, 1, availabilityZones.length),
    clusterName: matching(raw, 'clusterName', /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, 'must be 1-100 letters, digits, hyphens or underscores, starting with a letter or digit', `dicom-destination-${name}`),
    adminRoleArn: matching(raw, 'adminRoleArn', /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)'),
    publicEndpointCidrs: cidrList(raw, 'publicEndpointCidrs'),
    storagePrefix: matching(raw, 'storagePrefix', KEY_PREFIX, KEY_PREFIX_RULE, 'dicom'),
    intelligentTieringAfterDays: integer(raw, 'intelligentTieringAfterDays', 0, 0, 3650),
    noncurrentVersionExpirationDays: integer(raw, 'noncurrentVersionExpirationDays', 30, 1, 3650),
    logRetentionDays: retention(raw),
    ecrRepositoryName,
    controllerEcrRepositoryName,
    ecrMaxImageCount: integer(raw, 'ecrMaxImageCount', 100, 1, 10000),
    listener,
    collector: serviceAccount(raw, 'collector', { namespace: 'observability', name: 'adot-collector' }),
    loadBalancerController: serviceAccount(raw, 'loadBalancerController', { namespace: 'kube-system', name: 'aws-load-balancer-controller' }),
    alarmEmails: emails(raw),
    alarmThresholds: thresholds(raw),
    destinations: destinations(raw, listener),
  };
}

/** Reads and validates a JSON deployment config file. */
export function loadDeploymentConfig(file: string): DeploymentConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`Cannot read deployment config ${file}: ${(error as Error).message}`);
  }
  return parseDeploymentConfig(parsed);
}

function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DeploymentConfigError(field, 'must be an object');
  }
  return value as Record<string, unknown>;
}

function matching(raw: Record<string, unknown>, field: string, pattern: RegExp, reason: string, fallback?: string): string {
  return text(raw[field] ?? fallback, field, pattern, reason);
}

/** A required string matching `pattern`; `field` is how errors name it. */
function text(value: unknown, field: string, pattern: RegExp, reason: string): string {
  if (value === undefined) throw new DeploymentConfigError(field, 'is required');
  if (typeof value !== 'string' || !pattern.test(value)) throw new DeploymentConfigError(field, `${reason} (got ${JSON.stringify(value)})`);
  return value;
}

function integer(raw: Record<string, unknown>, field: string, fallback: number, min: number, max: number): number {
  const value = raw[field] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new DeploymentConfigError(field, `must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}

function stringList(raw: Record<string, unknown>, field: string): readonly string[] {
  const value = raw[field] ?? [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new DeploymentConfigError(field, 'must be an array of strings');
  }
  if (new Set(value).size !== value.length) throw new DeploymentConfigError(field, 'must not repeat an entry');
  return value as string[];
}

function zones(raw: Record<string, unknown>, region: string): readonly string[] {
  if (raw.availabilityZones === undefined) throw new DeploymentConfigError('availabilityZones', 'is required');
  const value = stringList(raw, 'availabilityZones');
  if (value.length < 2 || value.length > 3) {
    throw new DeploymentConfigError('availabilityZones', `must list 2 or 3 zones (got ${value.length})`);
  }
  const zone = new RegExp(`^${region}[a-z]$`);
  for (const [index, name] of value.entries()) {
    if (!zone.test(name)) throw new DeploymentConfigError(`availabilityZones[${index}]`, `must be a zone of ${region} such as ${region}a (got "${name}")`);
  }
  return value;
}

function parseCidr(value: string): { address: number; prefix: number } | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((octet) => octet > 255) || prefix > 32) return undefined;
  const address = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const hostBits = 2 ** (32 - prefix);
  return address % hostBits === 0 ? { address, prefix } : undefined;
}

function cidr(raw: Record<string, unknown>, field: string, fallback: string, range: { minPrefix: number; maxPrefix: number }): string {
  const value = raw[field] ?? fallback;
  const parsed = typeof value === 'string' ? parseCidr(value) : undefined;
  if (typeof value !== 'string' || !parsed) {
    throw new DeploymentConfigError(field, `must be an IPv4 CIDR block with no host bits set, such as 10.40.0.0/16 (got ${JSON.stringify(value)})`);
  }
  if (parsed.prefix < range.minPrefix || parsed.prefix > range.maxPrefix) {
    throw new DeploymentConfigError(field, `must be a /${range.minPrefix} to /${range.maxPrefix} block so every zone has room for Fargate pods (got /${parsed.prefix})`);
  }
  return value;
}

function cidrList(raw: Record<string, unknown>, field: string): readonly string[] {
  const value = stringList(raw, field);
  for (const [index, entry] of value.entries()) {
    if (!parseCidr(entry)) throw new DeploymentConfigError(`${field}[${index}]`, `must be an IPv4 CIDR block with no host bits set (got "${entry}")`);
    if (entry.endsWith('/0')) throw new DeploymentConfigError(`${field}[${index}]`, 'must not open the API endpoint to the whole internet');
  }
  return value;
}

function retention(raw: Record<string, unknown>): number {
  const value = raw.logRetentionDays ?? 365;
  if (typeof value !== 'number' || !(LOG_RETENTION_DAYS as readonly number[]).includes(value)) {
    throw new DeploymentConfigError('logRetentionDays', `must be one of ${LOG_RETENTION_DAYS.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value;
}

function serviceAccount(raw: Record<string, unknown>, field: string, fallback: ServiceAccountRef): ServiceAccountRef {
  if (raw[field] === undefined) return fallback;
  const value = record(raw[field], field);
  for (const key of Object.keys(value)) {
    if (key !== 'namespace' && key !== 'name') throw new DeploymentConfigError(`${field}.${key}`, 'is not a known field');
  }
  const namespace = value.namespace ?? fallback.namespace;
  const name = value.name ?? fallback.name;
  if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace)) {
    throw new DeploymentConfigError(`${field}.namespace`, `must be a Kubernetes namespace name (RFC 1123 label) (got ${JSON.stringify(namespace)})`);
  }
  if (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name)) {
    throw new DeploymentConfigError(`${field}.name`, `must be a Kubernetes service account name (RFC 1123 subdomain) (got ${JSON.stringify(name)})`);
  }
  return { namespace, name };
}

function emails(raw: Record<string, unknown>): readonly string[] {
  const value = stringList(raw, 'alarmEmails');
  for (const [index, entry] of value.entries()) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(entry)) throw new DeploymentConfigError(`alarmEmails[${index}]`, `must be an email address (got "${entry}")`);
  }
  return value;
}

function thresholds(raw: Record<string, unknown>): AlarmThresholds {
  const value = record(raw.alarmThresholds ?? {}, 'alarmThresholds');
  for (const key of Object.keys(value)) {
    if (key !== 'storeFailures' && key !== 'rejectedAssociations') throw new DeploymentConfigError(`alarmThresholds.${key}`, 'is not a known field');
  }
  const nested = (field: 'storeFailures' | 'rejectedAssociations', fallback: number): number => {
    const entry = value[field] ?? fallback;
    if (typeof entry !== 'number' || !Number.isInteger(entry) || entry < 1) {
      throw new DeploymentConfigError(`alarmThresholds.${field}`, `must be a positive integer (got ${JSON.stringify(entry)})`);
    }
    return entry;
  };
  return { storeFailures: nested('storeFailures', 1), rejectedAssociations: nested('rejectedAssociations', 5) };
}

function destinations(raw: Record<string, unknown>, listener: ServiceAccountRef): readonly DestinationRef[] {
  const value = raw.destinations ?? [];
  if (!Array.isArray(value)) throw new DeploymentConfigError('destinations', 'must be an array of { "name", "prefix" } objects');
  const byOutputKey = new Map<string, string>();
  return value.map((item: unknown, index): DestinationRef => {
    const field = `destinations[${index}]`;
    const entry = record(item, field);
    for (const key of Object.keys(entry)) {
      if (key !== 'name' && key !== 'prefix') throw new DeploymentConfigError(`${field}.${key}`, 'is not a known field');
    }
    const name = text(entry.name, `${field}.name`, DESTINATION_NAME, 'must be a DicomDestination name: a DNS-1035 label of at most 47 characters (lowercase letters, digits and "-", starting with a letter and ending with a letter or digit)');
    const prefix = text(entry.prefix, `${field}.prefix`, KEY_PREFIX, KEY_PREFIX_RULE);
    if (name === listener.name) {
      throw new DeploymentConfigError(`${field}.name`, `must differ from the listener service account name "${listener.name}", which shares its namespace`);
    }
    const outputKey = destinationRoleOutputKey(name);
    const earlier = byOutputKey.get(outputKey);
    if (earlier === name) throw new DeploymentConfigError(`${field}.name`, `repeats "${name}"; each destination is listed once`);
    if (earlier !== undefined) {
      throw new DeploymentConfigError(`${field}.name`, `"${name}" and "${earlier}" would both have the stack output ${outputKey}; rename one`);
    }
    byOutputKey.set(outputKey, name);
    return { name, prefix };
  });
}
