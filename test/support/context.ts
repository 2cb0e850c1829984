// What global setup hands to test files, via vitest provide/inject and, as a
// fallback for code running outside a vitest worker, a JSON state file whose
// path is in DICOM_TEST_CEPH_STATE.
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';

export interface CephSettings {
  /** S3 endpoint of the shared gateway, e.g. http://127.0.0.1:41234 (path-style only). */
  endpoint: string;
  region: 'us-east-1';
  accessKeyId: string;
  secretAccessKey: string;
  /** Root of the throwaway cluster (config, logs, pid files). */
  cephDir: string;
  /** JSON file holding these settings plus cluster internals (see ceph.ts). */
  stateFile: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    ceph: CephSettings;
    /** Per-run scratch root, removed by global teardown. */
    runDir: string;
  }
}

export const CEPH_STATE_ENV = 'DICOM_TEST_CEPH_STATE';
export const RUN_DIR_ENV = 'DICOM_TEST_RUN_DIR';

function tryInject<K extends 'ceph' | 'runDir'>(key: K) {
  try {
    return inject(key);
  } catch {
    return undefined; // not inside a vitest worker
  }
}

/** Settings of the shared Ceph RGW started by global setup. */
export function cephSettings(): CephSettings {
  const injected = tryInject('ceph');
  if (injected) return injected;
  const file = process.env[CEPH_STATE_ENV];
  if (file) return JSON.parse(readFileSync(file, 'utf8')) as CephSettings;
  throw new Error('no Ceph RGW settings: run tests with vitest so test/support/global-setup.ts starts Ceph (npm test)');
}

/** Per-run scratch root (falls back to undefined outside the suite). */
export function runDir(): string | undefined {
  return tryInject('runDir') ?? process.env[RUN_DIR_ENV];
}
