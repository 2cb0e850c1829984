import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import type { TlsConfig } from '../config.ts';
import { ConfigError } from '../config-values.ts';

/**
 * TLS 1.2 suites of BCP 195 (RFC 9325 4.2), which DICOM's BCP 195 profiles adopt (PS3.15 B.9):
 * ECDHE only, AEAD only. TLS 1.3 suites are all acceptable and stay at Node's defaults.
 */
export const BCP195_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** How often mounted certificate files are checked for change (a Secret update swaps them). */
const RELOAD_INTERVAL_MS = 5000;

function read(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(variable, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The server options for the TLS port, read from the configured files. */
export function loadTlsOptions(config: TlsConfig): tls.TlsOptions {
  return {
    cert: read('DICOM_TLS_CERT_FILE', config.certFile),
    key: read('DICOM_TLS_KEY_FILE', config.keyFile),
    ...(config.caFile ? { ca: read('DICOM_TLS_CA_FILE', config.caFile) } : {}),
    minVersion: 'TLSv1.2',
    ciphers: BCP195_TLS12_CIPHERS,
    honorCipherOrder: true,
    requestCert: config.requireClientCert,
    rejectUnauthorized: config.requireClientCert,
  };
}

function fingerprint(config: TlsConfig): string {
  const hash = createHash('sha256');
  for (const file of [config.certFile, config.keyFile, config.caFile]) {
    if (file) hash.update(readFileSync(file));
  }
  return hash.digest('hex');
}

/**
 * Re-reads the certificate, key and CA when their contents change and hands the new context to
 * the server, so a rotated Kubernetes Secret takes effect without a restart. Open connections
 * keep the context they shook hands with. A half-written or invalid new set is skipped and
 * retried on the next tick; the server keeps serving the last good one.
 */
export function watchTlsFiles(config: TlsConfig, server: tls.Server, onReload: (outcome: 'reloaded' | 'invalid', message?: string) => void): () => void {
  let current = fingerprint(config);
  const timer = setInterval(() => {
    try {
      const next = fingerprint(config);
      if (next === current) return;
      server.setSecureContext(loadTlsOptions(config));
      current = next;
      onReload('reloaded');
    } catch (error) {
      onReload('invalid', (error as Error).message);
    }
  }, RELOAD_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
