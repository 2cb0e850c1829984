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

export type StorageTarget =
  | { readonly kind: 'file'; readonly root: string; readonly prefix: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

const KEY_PLACEHOLDERS = ['prefix', 'StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID', 'SOPClassUID', 'CallingAETitle', 'CalledAETitle'];

/** PS3.8 9.3.1: 1–16 characters of the default repertoire, no backslash or control characters, not all spaces. */
export function validateAeTitle(name: string, title: string): string {
  if (title.trim().length === 0 || title.length > 16) throw new ConfigError(name, `AE title "${title}" must be 1–16 characters`);
  if (!/^[\x20-\x7e]+$/.test(title) || title.includes('\\')) {
    throw new ConfigError(name, `AE title "${title}" may hold only printable ASCII without backslash`);
  }
  return title.trim();
}

function trimSlashes(text: string): string {
  return text.replace(/^\/+|\/+$/g, '');
}

/** `s3://bucket/prefix` or `file:///path` (a relative `file://./x` resolves against `cwd`). */
export function parseStorageUrl(name: string, text: string, cwd: string): StorageTarget {
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

export function parseKeyTemplate(name: string, template: string): string {
  const used = [...template.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] ?? '');
  for (const placeholder of used) {
    if (!KEY_PLACEHOLDERS.includes(placeholder)) {
      throw new ConfigError(name, `unknown placeholder {${placeholder}}; use ${KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`);
    }
  }
  if (!used.includes('SOPInstanceUID')) throw new ConfigError(name, 'must contain {SOPInstanceUID}, or instances overwrite each other');
  return template;
}
