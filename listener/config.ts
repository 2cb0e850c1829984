import path from 'node:path';
import { loadAccessPolicy, validateCidr, type AccessPolicy } from './access-policy.ts';
import { ConfigError, parseKeyTemplate, parseStorageUrl, validateAeTitle } from './config-values.ts';

export { ConfigError } from './config-values.ts';

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
  { name: 'DICOM_TLS_PORT', default: 'off', description: 'DICOM TLS port (2762 is the registered one); needs the certificate and key files.' },
  { name: 'DICOM_TLS_CERT_FILE', default: '(none)', description: 'PEM certificate chain for the TLS port. Reloaded when the file changes.' },
  { name: 'DICOM_TLS_KEY_FILE', default: '(none)', description: 'PEM private key for the TLS port. Reloaded when the file changes.' },
  { name: 'DICOM_TLS_CA_FILE', default: '(none)', description: 'PEM CA bundle that client certificates must chain to.' },
  { name: 'DICOM_TLS_REQUIRE_CLIENT_CERT', default: 'false', description: 'Mutual TLS: refuse clients without a certificate signed by `DICOM_TLS_CA_FILE`.' },
  { name: 'DICOM_ALLOWED_CALLING_AE_TITLES', default: '(any)', description: 'Comma-separated calling AE titles allowed to associate; empty allows any.' },
  { name: 'DICOM_ALLOWED_SOURCE_CIDRS', default: '(any)', description: 'Comma-separated networks (e.g. `10.0.0.0/8`) allowed to associate; empty allows any.' },
  { name: 'DICOM_MAX_ASSOCIATIONS_PER_CALLING_AE', default: '(none)', description: 'Open associations one calling AE may hold; beyond it, a transient reject.' },
  { name: 'DICOM_POLICY_FILE', default: '(none)', description: 'YAML/JSON access and routing policy per local AE title (see docs/conformance-statement.md); entries fall back to the variables above.' },
  { name: 'DICOM_ACCEPT_UNKNOWN_SOP_CLASSES', default: 'false', description: 'Also accept private SOP classes (outside the DICOM root); standard non-storage services stay refused.' },
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

export interface TlsConfig {
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string | undefined;
  readonly requireClientCert: boolean;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type ChecksumMode = 'when-supported' | 'when-required';

export interface ListenerConfig {
  readonly host: string;
  /** `null` when the plain port is switched off. */
  readonly port: number | null;
  readonly tls: TlsConfig | undefined;
  /** Local AE titles, who may call them, and where each stores. */
  readonly access: AccessPolicy;
  readonly acceptUnknownSopClasses: boolean;
  readonly maxPduLength: number;
  readonly maxAssociations: number;
  readonly artimTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly stallTimeoutMs: number;
  readonly maxInstanceBytes: number;
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

function list(env: Env, name: string): string[] {
  const text = raw(env, name) ?? defaultOf(name);
  if (text.startsWith('(')) return [];
  return text.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

function aeTitles(env: Env, name: string): string[] {
  const titles = list(env, name).map((t) => validateAeTitle(name, t));
  if (new Set(titles).size !== titles.length) throw new ConfigError(name, 'lists an AE title twice');
  return titles;
}

function optionalInteger(env: Env, name: string, min: number, max: number): number | undefined {
  return raw(env, name) === undefined ? undefined : integer(env, name, min, max);
}

function tlsConfig(env: Env, cwd: string): TlsConfig | undefined {
  const tlsPort = port(env, 'DICOM_TLS_PORT', true);
  const certFile = raw(env, 'DICOM_TLS_CERT_FILE');
  const keyFile = raw(env, 'DICOM_TLS_KEY_FILE');
  const caFile = raw(env, 'DICOM_TLS_CA_FILE');
  const requireClientCert = boolean(env, 'DICOM_TLS_REQUIRE_CLIENT_CERT');
  if (tlsPort === null) {
    if (certFile || keyFile || requireClientCert) throw new ConfigError('DICOM_TLS_PORT', 'is off, but TLS files or client certificates are configured; set the port (e.g. 2762)');
    return undefined;
  }
  if (!certFile) throw new ConfigError('DICOM_TLS_CERT_FILE', 'is required when DICOM_TLS_PORT is set');
  if (!keyFile) throw new ConfigError('DICOM_TLS_KEY_FILE', 'is required when DICOM_TLS_PORT is set');
  if (requireClientCert && !caFile) throw new ConfigError('DICOM_TLS_CA_FILE', 'is required when DICOM_TLS_REQUIRE_CLIENT_CERT is true');
  const resolve = (file: string) => path.resolve(cwd, file);
  return { port: tlsPort, certFile: resolve(certFile), keyFile: resolve(keyFile), caFile: caFile && resolve(caFile), requireClientCert };
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
  const aes = aeTitles(env, 'DICOM_AE_TITLE');
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
  const access = loadAccessPolicy(raw(env, 'DICOM_POLICY_FILE'), {
    aeTitles: aes,
    allowedCallingAeTitles: aeTitles(env, 'DICOM_ALLOWED_CALLING_AE_TITLES'),
    allowedSourceCidrs: list(env, 'DICOM_ALLOWED_SOURCE_CIDRS').map((cidr) => validateCidr('DICOM_ALLOWED_SOURCE_CIDRS', cidr)),
    storage: parseStorageUrl('STORAGE_URL', raw(env, 'STORAGE_URL') ?? defaultOf('STORAGE_URL'), cwd),
    keyTemplate: parseKeyTemplate('STORAGE_KEY_TEMPLATE', raw(env, 'STORAGE_KEY_TEMPLATE') ?? defaultOf('STORAGE_KEY_TEMPLATE')),
    maxAssociationsPerCallingAe: optionalInteger(env, 'DICOM_MAX_ASSOCIATIONS_PER_CALLING_AE', 1, 10_000),
  }, cwd);
  const config: ListenerConfig = {
    host: raw(env, 'DICOM_HOST') ?? defaultOf('DICOM_HOST'),
    port: port(env, 'DICOM_PORT', true),
    tls: tlsConfig(env, cwd),
    access,
    acceptUnknownSopClasses: boolean(env, 'DICOM_ACCEPT_UNKNOWN_SOP_CLASSES'),
    maxPduLength: integer(env, 'DICOM_MAX_PDU_LENGTH', 4096, 1024 * 1024),
    maxAssociations: integer(env, 'DICOM_MAX_ASSOCIATIONS', 1, 10_000),
    artimTimeoutMs: integer(env, 'DICOM_ARTIM_TIMEOUT_SECONDS', 1, 3600) * 1000,
    idleTimeoutMs: integer(env, 'DICOM_IDLE_TIMEOUT_SECONDS', 1, 86_400) * 1000,
    stallTimeoutMs: integer(env, 'DICOM_STALL_TIMEOUT_SECONDS', 1, 3600) * 1000,
    maxInstanceBytes: maxInstanceMiB * MIB,
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
  if (config.port === null && config.tls === undefined) {
    throw new ConfigError('DICOM_PORT', 'is off, and no TLS port is configured; the listener would accept nothing');
  }
  return config;
}
