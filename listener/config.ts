import path from 'node:path';

/** A configuration value that failed validation; the message names the variable and the reason. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, reason: string) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export interface EnvVariable {
  readonly name: string;
  readonly default: string;
  readonly description: string;
}

/**
 * Every environment variable the listener reads. The README's configuration table and the
 * Kubernetes contract test are checked against this list, so it is the single source of truth.
 */
export const LISTENER_ENV: readonly EnvVariable[] = [
  { name: 'DICOM_AE_TITLE', default: 'DICOMS3', description: 'Local (called) AE title(s), comma-separated. Associations to any other called AE are rejected.' },
  { name: 'DICOM_HOST', default: '0.0.0.0', description: 'Address the DICOM ports bind to.' },
  { name: 'DICOM_PORT', default: '11112', description: 'Plain DICOM port; `off` disables it (TLS only).' },
  { name: 'DICOM_ALLOWED_CALLING_AE_TITLES', default: '(any)', description: 'Comma-separated calling AE titles allowed to associate; empty allows any.' },
  { name: 'DICOM_ACCEPT_UNKNOWN_SOP_CLASSES', default: 'false', description: 'Also accept SOP classes that are not standard storage classes (private or retired).' },
  { name: 'DICOM_MAX_PDU_LENGTH', default: '131072', description: 'Maximum PDU length we advertise and enforce on receive (bytes, 4096–1048576).' },
  { name: 'DICOM_MAX_ASSOCIATIONS', default: '64', description: 'Concurrent associations per process; beyond it, a transient reject (local limit exceeded).' },
  { name: 'DICOM_ARTIM_TIMEOUT_SECONDS', default: '30', description: 'Close a connection that sends no A-ASSOCIATE-RQ within this time.' },
  { name: 'DICOM_IDLE_TIMEOUT_SECONDS', default: '300', description: 'Abort an association that sends nothing between instances for this long.' },
  { name: 'DICOM_STALL_TIMEOUT_SECONDS', default: '60', description: 'Abort when the sender stops mid-instance for this long (not counted while storage is behind).' },
  { name: 'DICOM_MAX_INSTANCE_SIZE_MIB', default: '4096', description: 'Largest instance accepted; bigger ones are refused with 0xA700.' },
  { name: 'STORAGE_URL', default: 'file://./dicom-store', description: '`s3://bucket/prefix` or `file:///path`. The local folder is the embedded default.' },
  { name: 'STORAGE_KEY_TEMPLATE', default: '{prefix}/{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm', description: 'Object key template. `{prefix}/{SOPInstanceUID}.dcm` gives the flat layout AWS HealthImaging imports.' },
  { name: 'S3_FORCE_PATH_STYLE', default: 'false', description: 'Path-style S3 addressing, for S3-compatible servers (with `AWS_ENDPOINT_URL_S3`).' },
  { name: 'S3_SSE_KMS_KEY_ID', default: '(bucket default)', description: 'KMS key for SSE-KMS; unset uses the bucket default encryption.' },
  { name: 'S3_STORAGE_CLASS', default: '(bucket default)', description: 'S3 storage class, e.g. `INTELLIGENT_TIERING`.' },
  { name: 'S3_PART_SIZE_MIB', default: '5', description: 'Multipart part size; instances up to this size are a single PutObject.' },
  { name: 'S3_QUEUE_SIZE', default: '2', description: 'Parts uploaded concurrently per instance. Memory per instance in flight is about part size × (queue + 1).' },
  { name: 'S3_REQUEST_TIMEOUT_SECONDS', default: '60', description: 'An S3 request idle this long fails (and is retried by the SDK); without it a hung endpoint would hold an association forever.' },
  { name: 'S3_CHECKSUM_MODE', default: 'when-supported', description: '`when-supported` sends S3 flexible checksums (AWS S3); `when-required` for servers without them (e.g. Ceph Pacific). The end-to-end check holds either way.' },
  { name: 'OPS_PORT', default: '8080', description: 'HTTP port for /healthz, /readyz and /metrics.' },
  { name: 'OPS_HOST', default: '0.0.0.0', description: 'Address the ops port binds to.' },
  { name: 'DRAIN_TIMEOUT_SECONDS', default: '60', description: 'On SIGTERM, how long in-flight associations may finish before they are aborted.' },
  { name: 'LOG_LEVEL', default: 'info', description: '`debug`, `info`, `warn` or `error`.' },
];

export type StorageTarget =
  | { readonly kind: 'file'; readonly root: string; readonly prefix: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type ChecksumMode = 'when-supported' | 'when-required';

export interface ListenerConfig {
  readonly aeTitles: readonly string[];
  readonly host: string;
  /** `null` when the plain port is switched off. */
  readonly port: number | null;
  readonly allowedCallingAeTitles: readonly string[];
  readonly acceptUnknownSopClasses: boolean;
  readonly maxPduLength: number;
  readonly maxAssociations: number;
  readonly artimTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly stallTimeoutMs: number;
  readonly maxInstanceBytes: number;
  readonly storage: StorageTarget;
  readonly keyTemplate: string;
  readonly s3: {
    readonly forcePathStyle: boolean;
    readonly kmsKeyId: string | undefined;
    readonly storageClass: string | undefined;
    readonly partSizeBytes: number;
    readonly queueSize: number;
    readonly checksumMode: ChecksumMode;
    readonly requestTimeoutMs: number;
  };
  readonly opsHost: string;
  readonly opsPort: number;
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
}

type Env = Readonly<Record<string, string | undefined>>;

const MIB = 1024 * 1024;
const S3_STORAGE_CLASSES = [
  'STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING',
  'GLACIER', 'DEEP_ARCHIVE', 'OUTPOSTS', 'GLACIER_IR', 'SNOW', 'EXPRESS_ONEZONE',
];
const KEY_PLACEHOLDERS = ['prefix', 'StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID', 'SOPClassUID', 'CallingAETitle', 'CalledAETitle'];

function defaultOf(name: string): string {
  const variable = LISTENER_ENV.find((v) => v.name === name);
  if (!variable) throw new Error(`BUG: ${name} is not declared in LISTENER_ENV`);
  return variable.default;
}

function raw(env: Env, name: string): string | undefined {
  defaultOf(name);
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, name: string, min: number, max: number): number {
  const text = raw(env, name) ?? defaultOf(name);
  if (!/^\d+$/.test(text)) throw new ConfigError(name, `must be a whole number, got "${text}"`);
  const value = Number(text);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function boolean(env: Env, name: string): boolean {
  const text = (raw(env, name) ?? defaultOf(name)).toLowerCase();
  if (text === 'true' || text === '1' || text === 'yes') return true;
  if (text === 'false' || text === '0' || text === 'no') return false;
  throw new ConfigError(name, `must be true or false, got "${text}"`);
}

function port(env: Env, name: string, allowOff: boolean): number | null {
  const text = raw(env, name) ?? defaultOf(name);
  if (allowOff && text.toLowerCase() === 'off') return null;
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    throw new ConfigError(name, `must be a TCP port (0–65535${allowOff ? ') or "off"' : ')'}, got "${text}"`);
  }
  return Number(text);
}

/** PS3.8 9.3.1: 1–16 characters of the default repertoire, no backslash or control characters, not all spaces. */
export function validateAeTitle(name: string, title: string): string {
  if (title.length === 0 || title.length > 16) throw new ConfigError(name, `AE title "${title}" must be 1–16 characters`);
  if (!/^[\x20-\x7e]+$/.test(title) || title.includes('\\')) {
    throw new ConfigError(name, `AE title "${title}" may hold only printable ASCII without backslash`);
  }
  return title.trim();
}

function aeTitles(env: Env, name: string, fallback: string): string[] {
  const text = raw(env, name) ?? fallback;
  if (text === '' || text === '(any)') return [];
  const titles = text.split(',').map((t) => validateAeTitle(name, t.trim()));
  if (new Set(titles).size !== titles.length) throw new ConfigError(name, 'lists an AE title twice');
  return titles;
}

function trimSlashes(text: string): string {
  return text.replace(/^\/+|\/+$/g, '');
}

function storageTarget(env: Env, cwd: string): StorageTarget {
  const name = 'STORAGE_URL';
  const text = raw(env, name) ?? defaultOf(name);
  if (text.startsWith('file://')) {
    const location = text.slice('file://'.length);
    if (location === '') throw new ConfigError(name, 'file:// needs a path, e.g. file:///var/lib/dicom');
    return { kind: 'file', root: path.resolve(cwd, decodeURIComponent(location)), prefix: '' };
  }
  if (text.startsWith('s3://')) {
    const rest = text.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : trimSlashes(rest.slice(slash + 1));
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new ConfigError(name, `"${bucket}" is not a valid S3 bucket name`);
    }
    return { kind: 's3', bucket, prefix };
  }
  throw new ConfigError(name, `must start with s3:// or file://, got "${text}"`);
}

function keyTemplate(env: Env): string {
  const name = 'STORAGE_KEY_TEMPLATE';
  const template = raw(env, name) ?? defaultOf(name);
  const used = [...template.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] ?? '');
  for (const placeholder of used) {
    if (!KEY_PLACEHOLDERS.includes(placeholder)) {
      throw new ConfigError(name, `unknown placeholder {${placeholder}}; use ${KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`);
    }
  }
  if (!used.includes('SOPInstanceUID')) throw new ConfigError(name, 'must contain {SOPInstanceUID}, or instances overwrite each other');
  return template;
}

function logLevel(env: Env): LogLevel {
  const text = (raw(env, 'LOG_LEVEL') ?? defaultOf('LOG_LEVEL')).toLowerCase();
  if (text === 'debug' || text === 'info' || text === 'warn' || text === 'error') return text;
  throw new ConfigError('LOG_LEVEL', `must be debug, info, warn or error, got "${text}"`);
}

function checksumMode(env: Env): ChecksumMode {
  const text = (raw(env, 'S3_CHECKSUM_MODE') ?? defaultOf('S3_CHECKSUM_MODE')).toLowerCase();
  if (text === 'when-supported' || text === 'when-required') return text;
  throw new ConfigError('S3_CHECKSUM_MODE', `must be when-supported or when-required, got "${text}"`);
}

function optional(env: Env, name: string): string | undefined {
  return raw(env, name);
}

/** Reads and validates the whole configuration once, at start. Throws {@link ConfigError}. */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): ListenerConfig {
  const aes = aeTitles(env, 'DICOM_AE_TITLE', defaultOf('DICOM_AE_TITLE'));
  if (aes.length === 0) throw new ConfigError('DICOM_AE_TITLE', 'needs at least one AE title');
  const storageClass = optional(env, 'S3_STORAGE_CLASS');
  if (storageClass !== undefined && !S3_STORAGE_CLASSES.includes(storageClass)) {
    throw new ConfigError('S3_STORAGE_CLASS', `unknown storage class "${storageClass}"; use one of ${S3_STORAGE_CLASSES.join(', ')}`);
  }
  const partSizeMiB = integer(env, 'S3_PART_SIZE_MIB', 5, 5120);
  const maxInstanceMiB = integer(env, 'DICOM_MAX_INSTANCE_SIZE_MIB', 1, 5 * 1024 * 1024);
  if (Math.ceil(maxInstanceMiB / partSizeMiB) > 10_000) {
    throw new ConfigError('S3_PART_SIZE_MIB', `${partSizeMiB} MiB parts cannot hold a ${maxInstanceMiB} MiB instance in S3's 10,000 parts`);
  }
  const config: ListenerConfig = {
    aeTitles: aes,
    host: raw(env, 'DICOM_HOST') ?? defaultOf('DICOM_HOST'),
    port: port(env, 'DICOM_PORT', true),
    allowedCallingAeTitles: aeTitles(env, 'DICOM_ALLOWED_CALLING_AE_TITLES', ''),
    acceptUnknownSopClasses: boolean(env, 'DICOM_ACCEPT_UNKNOWN_SOP_CLASSES'),
    maxPduLength: integer(env, 'DICOM_MAX_PDU_LENGTH', 4096, 1024 * 1024),
    maxAssociations: integer(env, 'DICOM_MAX_ASSOCIATIONS', 1, 10_000),
    artimTimeoutMs: integer(env, 'DICOM_ARTIM_TIMEOUT_SECONDS', 1, 3600) * 1000,
    idleTimeoutMs: integer(env, 'DICOM_IDLE_TIMEOUT_SECONDS', 1, 86_400) * 1000,
    stallTimeoutMs: integer(env, 'DICOM_STALL_TIMEOUT_SECONDS', 1, 3600) * 1000,
    maxInstanceBytes: maxInstanceMiB * MIB,
    storage: storageTarget(env, cwd),
    keyTemplate: keyTemplate(env),
    s3: {
      forcePathStyle: boolean(env, 'S3_FORCE_PATH_STYLE'),
      kmsKeyId: optional(env, 'S3_SSE_KMS_KEY_ID'),
      storageClass,
      partSizeBytes: partSizeMiB * MIB,
      queueSize: integer(env, 'S3_QUEUE_SIZE', 1, 16),
      checksumMode: checksumMode(env),
      requestTimeoutMs: integer(env, 'S3_REQUEST_TIMEOUT_SECONDS', 1, 3600) * 1000,
    },
    opsHost: raw(env, 'OPS_HOST') ?? defaultOf('OPS_HOST'),
    opsPort: port(env, 'OPS_PORT', false) ?? 0,
    drainTimeoutMs: integer(env, 'DRAIN_TIMEOUT_SECONDS', 0, 3600) * 1000,
    logLevel: logLevel(env),
  };
  if (config.port === null) {
    throw new ConfigError('DICOM_PORT', 'is off, and no TLS port is configured; the listener would accept nothing');
  }
  return config;
}
