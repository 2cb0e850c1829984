import { readFileSync } from 'node:fs';
import net from 'node:net';
import { parse } from 'yaml';
import { ConfigError, parseKeyTemplate, parseStorageUrl, validateAeTitle, type StorageTarget } from './config-values.ts';

/** A calling AE that may associate, optionally only from given networks. */
export interface CallerRule {
  readonly aeTitle: string;
  readonly sourceCidrs: readonly string[];
}

/** One local AE title: who may call it, from where, and where its instances go. */
export interface CalledAePolicy {
  readonly aeTitle: string;
  /** Empty: any calling AE. */
  readonly callers: readonly CallerRule[];
  /** Empty: any source address. */
  readonly sourceCidrs: readonly string[];
  readonly storage: StorageTarget;
  readonly keyTemplate: string;
}

export interface AccessPolicy {
  readonly calledAes: ReadonlyMap<string, CalledAePolicy>;
  /** Open associations one calling AE may hold at once; undefined: no per-AE limit. */
  readonly maxAssociationsPerCallingAe: number | undefined;
}

export interface PolicyDefaults {
  readonly aeTitles: readonly string[];
  readonly allowedCallingAeTitles: readonly string[];
  readonly allowedSourceCidrs: readonly string[];
  readonly storage: StorageTarget;
  readonly keyTemplate: string;
  readonly maxAssociationsPerCallingAe: number | undefined;
}

const VARIABLE = 'DICOM_POLICY_FILE';

/** Validates a CIDR such as 10.0.0.0/8 or fd00::/8; a bare address means that one host. */
export function validateCidr(name: string, cidr: string): string {
  const [address = '', bits] = cidr.split('/');
  const family = net.isIP(address);
  const max = family === 4 ? 32 : 128;
  if (family === 0 || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > max))) {
    throw new ConfigError(name, `"${cidr}" is not an IPv4 or IPv6 CIDR`);
  }
  return bits === undefined ? `${address}/${max}` : cidr;
}

function fail(path: string, reason: string): never {
  throw new ConfigError(VARIABLE, `${path}: ${reason}`);
}

function stringList(value: unknown, path: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) fail(path, 'must be a list of strings');
  return value as string[];
}

function callerRules(value: unknown, path: string): CallerRule[] {
  if (!Array.isArray(value)) fail(path, 'must be a list');
  return value.map((entry: unknown, index) => {
    const at = `${path}[${index}]`;
    if (typeof entry === 'string') return { aeTitle: validateAeTitle(`${VARIABLE} ${at}`, entry), sourceCidrs: [] };
    if (typeof entry !== 'object' || entry === null) fail(at, 'must be an AE title or { aeTitle, sourceCidrs }');
    const { aeTitle, sourceCidrs, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0) fail(at, `unknown field ${Object.keys(rest)[0]}`);
    if (typeof aeTitle !== 'string') fail(`${at}.aeTitle`, 'is required');
    return {
      aeTitle: validateAeTitle(`${VARIABLE} ${at}.aeTitle`, aeTitle),
      sourceCidrs: sourceCidrs === undefined ? [] : stringList(sourceCidrs, `${at}.sourceCidrs`).map((c) => validateCidr(`${VARIABLE} ${at}.sourceCidrs`, c)),
    };
  });
}

const AE_FIELDS = new Set(['aeTitle', 'allowedCallingAeTitles', 'allowedSourceCidrs', 'storageUrl', 'keyTemplate']);

function calledAe(value: unknown, index: number, defaults: PolicyDefaults, cwd: string): CalledAePolicy {
  const at = `aeTitles[${index}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(at, 'must be a mapping');
  const entry = value as Record<string, unknown>;
  const unknown = Object.keys(entry).find((key) => !AE_FIELDS.has(key));
  if (unknown) fail(`${at}.${unknown}`, `is not a known field; use ${[...AE_FIELDS].join(', ')}`);
  if (typeof entry['aeTitle'] !== 'string') fail(`${at}.aeTitle`, 'is required');
  const storageUrl = entry['storageUrl'];
  if (storageUrl !== undefined && typeof storageUrl !== 'string') fail(`${at}.storageUrl`, 'must be a string');
  const keyTemplate = entry['keyTemplate'];
  if (keyTemplate !== undefined && typeof keyTemplate !== 'string') fail(`${at}.keyTemplate`, 'must be a string');
  return {
    aeTitle: validateAeTitle(`${VARIABLE} ${at}.aeTitle`, entry['aeTitle']),
    callers: entry['allowedCallingAeTitles'] === undefined
      ? defaults.allowedCallingAeTitles.map((aeTitle) => ({ aeTitle, sourceCidrs: [] }))
      : callerRules(entry['allowedCallingAeTitles'], `${at}.allowedCallingAeTitles`),
    sourceCidrs: entry['allowedSourceCidrs'] === undefined
      ? defaults.allowedSourceCidrs
      : stringList(entry['allowedSourceCidrs'], `${at}.allowedSourceCidrs`).map((c) => validateCidr(`${VARIABLE} ${at}.allowedSourceCidrs`, c)),
    storage: storageUrl === undefined ? defaults.storage : parseStorageUrl(`${VARIABLE} ${at}.storageUrl`, storageUrl, cwd),
    keyTemplate: keyTemplate === undefined ? defaults.keyTemplate : parseKeyTemplate(`${VARIABLE} ${at}.keyTemplate`, keyTemplate),
  };
}

/**
 * The access and routing policy. Simple deployments set it entirely by environment variables;
 * a YAML or JSON file (`DICOM_POLICY_FILE`, typically a mounted ConfigMap) takes over the list
 * of local AE titles, and each entry falls back to the environment for what it leaves out.
 */
export function loadAccessPolicy(file: string | undefined, defaults: PolicyDefaults, cwd: string): AccessPolicy {
  if (file === undefined) {
    const calledAes = defaults.aeTitles.map((aeTitle) => ({
      aeTitle,
      callers: defaults.allowedCallingAeTitles.map((caller) => ({ aeTitle: caller, sourceCidrs: [] })),
      sourceCidrs: defaults.allowedSourceCidrs,
      storage: defaults.storage,
      keyTemplate: defaults.keyTemplate,
    }));
    return { calledAes: new Map(calledAes.map((ae) => [ae.aeTitle, ae])), maxAssociationsPerCallingAe: defaults.maxAssociationsPerCallingAe };
  }
  let document: unknown;
  try {
    document = parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(VARIABLE, `cannot read ${file}: ${(error as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) fail(file, 'must be a mapping with aeTitles');
  const { aeTitles, maxAssociationsPerCallingAe, ...rest } = document as Record<string, unknown>;
  if (Object.keys(rest).length > 0) fail(Object.keys(rest)[0]!, 'is not a known field; use aeTitles, maxAssociationsPerCallingAe');
  if (!Array.isArray(aeTitles) || aeTitles.length === 0) fail('aeTitles', 'must list at least one local AE title');
  const calledAes = aeTitles.map((entry: unknown, index) => calledAe(entry, index, defaults, cwd));
  const map = new Map<string, CalledAePolicy>();
  for (const ae of calledAes) {
    if (map.has(ae.aeTitle)) fail('aeTitles', `lists ${ae.aeTitle} twice`);
    map.set(ae.aeTitle, ae);
  }
  if (maxAssociationsPerCallingAe !== undefined && (!Number.isInteger(maxAssociationsPerCallingAe) || (maxAssociationsPerCallingAe as number) < 1)) {
    fail('maxAssociationsPerCallingAe', 'must be a whole number of at least 1');
  }
  return { calledAes: map, maxAssociationsPerCallingAe: (maxAssociationsPerCallingAe as number | undefined) ?? defaults.maxAssociationsPerCallingAe };
}

/** PS3.8 A-ASSOCIATE-RJ reasons this policy can give. */
export type AccessDecision = 'allowed' | 'called-ae-not-recognized' | 'calling-ae-not-recognized' | 'source-not-allowed';

function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address, family: net.isIPv6(address) ? 'ipv6' : 'ipv4' };
}

export function addressInCidrs(address: string | undefined, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0) return true;
  if (address === undefined) return false;
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [network = '', bits = '32'] = cidr.split('/');
    list.addSubnet(network, Number(bits), net.isIPv6(network) ? 'ipv6' : 'ipv4');
  }
  const peer = normalise(address);
  return list.check(peer.address, peer.family);
}

/** Whether `callingAeTitle` at `peerAddress` may associate with `calledAeTitle`. */
export function decideAccess(policy: AccessPolicy, calledAeTitle: string, callingAeTitle: string, peerAddress: string | undefined): AccessDecision {
  const called = policy.calledAes.get(calledAeTitle);
  if (!called) return 'called-ae-not-recognized';
  if (!addressInCidrs(peerAddress, called.sourceCidrs)) return 'source-not-allowed';
  if (called.callers.length === 0) return 'allowed';
  const rule = called.callers.find((caller) => caller.aeTitle === callingAeTitle);
  if (!rule) return 'calling-ae-not-recognized';
  return addressInCidrs(peerAddress, rule.sourceCidrs) ? 'allowed' : 'calling-ae-not-recognized';
}
