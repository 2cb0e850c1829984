import { readFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { issue, makePki, type Pki } from '../support/certificates.ts';
import { buildCorpus, type Corpus } from '../support/corpus.ts';
import { echoscu, storescu } from '../support/dcmtk.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

/** The serial number of the certificate the TLS port presents, read with Node's TLS client. */
function presentedSerial(port: number, pki: Pki): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, key: readFileSync(pki.clientKey), cert: readFileSync(pki.clientCert) }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

function handshake(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
      resolve(`connected ${socket.getProtocol()}`);
      socket.destroy();
    });
    socket.on('error', (error) => resolve(`failed: ${error.message}`));
  });
}

describe('DICOM TLS with mutual authentication', () => {
  let work: string;
  let pki: Pki;
  let corpus: Corpus;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('tls-');
    pki = await makePki(join(work, 'pki'));
    // The listener reads copies, so the reload test can swap them as a Secret update would.
    await copyFile(pki.serverCert, join(work, 'tls.crt'));
    await copyFile(pki.serverKey, join(work, 'tls.key'));
    corpus = await buildCorpus({ dir: join(work, 'corpus'), smallCount: 3 });
    listener = await startListener({
      STORAGE_URL: `file://${work}/store`,
      DICOM_PORT: 'off',
      DICOM_TLS_PORT: '0',
      DICOM_TLS_CERT_FILE: join(work, 'tls.crt'),
      DICOM_TLS_KEY_FILE: join(work, 'tls.key'),
      DICOM_TLS_CA_FILE: pki.caCert,
      DICOM_TLS_REQUIRE_CLIENT_CERT: 'true',
    });
  });

  afterAll(async () => {
    await listener?.stop();
    await removeWorkDir(work);
  });

  test('with the plain port off, only the TLS port listens', () => {
    const line = listener.logs.find((l) => l['event'] === 'listening');
    expect(line?.['dicomPort']).toBeNull();
    expect(listener.tlsPort).toBeGreaterThan(0);
  });

  test('a client certificate from the configured CA is accepted for C-ECHO and C-STORE', async () => {
    const tlsOptions = { key: pki.clientKey, cert: pki.clientCert, ca: [pki.caCert] };
    expect((await echoscu('127.0.0.1', listener.tlsPort!, { aec: 'DICOMS3', tls: tlsOptions })).ok).toBe(true);
    const result = await storescu('127.0.0.1', listener.tlsPort!, corpus.small.map((e) => e.path), { aec: 'DICOMS3', tls: tlsOptions });
    expect(result.files.map((f) => f.status)).toEqual([0, 0, 0]);
  });

  test('a client without a certificate is refused', async () => {
    const echo = await echoscu('127.0.0.1', listener.tlsPort!, { aec: 'DICOMS3', tls: { ca: [pki.caCert] } });
    expect(echo.ok).toBe(false);
  });

  test('a client certificate from a foreign CA is refused', async () => {
    const echo = await echoscu('127.0.0.1', listener.tlsPort!, { aec: 'DICOMS3', tls: { key: pki.foreignClientKey, cert: pki.foreignClientCert, ca: [pki.caCert] } });
    expect(echo.ok).toBe(false);
  });

  test('plaintext DICOM to the TLS port is refused, and the refusal is logged', async () => {
    const echo = await echoscu('127.0.0.1', listener.tlsPort!, { aec: 'DICOMS3', timeoutMs: 20_000 });
    expect(echo.ok).toBe(false);
    await listener.waitForLog((line) => line['event'] === 'tls-handshake-failed', 5000);
  });

  test('TLS 1.1 is refused; TLS 1.2 and 1.3 are accepted', async () => {
    const client = { key: readFileSync(pki.clientKey), cert: readFileSync(pki.clientCert) };
    expect(await handshake(listener.tlsPort!, { ...client, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).toMatch(/^failed/);
    expect(await handshake(listener.tlsPort!, { ...client, maxVersion: 'TLSv1.2' })).toBe('connected TLSv1.2');
    expect(await handshake(listener.tlsPort!, { ...client, minVersion: 'TLSv1.3' })).toBe('connected TLSv1.3');
  });

  test('a renewed certificate is served without a restart once its files change', async () => {
    // GIVEN the listener presents the first server certificate
    const before = await presentedSerial(listener.tlsPort!, pki);
    // WHEN the mounted files are replaced by a new certificate from the same CA
    await issue(pki.dir, 'ca', 'server-renewed', 1003);
    await copyFile(join(pki.dir, 'server-renewed.key'), join(work, 'tls.key'));
    await copyFile(join(pki.dir, 'server-renewed.crt'), join(work, 'tls.crt'));
    await listener.waitForLog((line) => line['event'] === 'tls-reloaded', 15_000);
    // THEN new connections see the new certificate, from the same process
    const after = await presentedSerial(listener.tlsPort!, pki);
    expect(before).not.toBe(after);
    expect(after.replace(/^0+/, '')).toBe((1003).toString(16).toUpperCase());
  });
});
