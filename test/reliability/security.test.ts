// Security checks test/e2e does not already make. tls.test.ts covers one client at a time
// (plaintext, no certificate, a foreign CA, TLS 1.1); access-policy.test.ts covers unknown
// AEs on the plain port; observability.test.ts scans logs, metrics, spans and metadata after
// a clean workload. Here: TLS-required mode (DICOM_PORT=off, mutual TLS) holding under a mix
// of concurrent hostile clients and under fuzzing through and around TLS, and an unknown
// called AE with a valid certificate. (The PHI scans after faults are at the end of
// s3-faults.test.ts and process-faults.test.ts.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makePki, type Pki } from '../support/certificates.ts';
import { echoscu, storescu } from '../support/dcmtk.ts';
import { runFuzz } from '../support/fuzz/runner.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { associateRq } from '../support/raw-scu.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';
import { buildStudy, recordFigures, type Sent } from './harness.ts';

const MIB = 1024 * 1024;
const CONTEXTS = [{ id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] }];

/** What a client got back after sending an A-ASSOCIATE-RQ: the first PDU type, or how the connection failed. */
function tryAssociate(open: () => net.Socket, ready: 'connect' | 'secureConnect'): Promise<string> {
  return new Promise((resolve) => {
    const socket = open();
    let data = Buffer.alloc(0);
    const done = (what: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(what);
    };
    const timer = setTimeout(() => done(data.length ? `pdu-${data[0]}` : 'no-answer'), 5_000);
    socket.once(ready, () => socket.write(associateRq({ calling: 'GOODSCU', contexts: CONTEXTS })));
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      if (data.length >= 6) done(`pdu-${data[0]}`);
    });
    socket.on('error', () => done('error'));
    socket.on('close', () => done(data.length ? `pdu-${data[0]}` : 'closed'));
  });
}

describe('TLS-required mode (plain port off, mutual TLS) under hostile load and fuzzing', () => {
  let work: string;
  let pki: Pki;
  let listener: ListenerProcess;
  let study: Sent[];
  let tlsPort: number;

  beforeAll(async () => {
    work = await makeWorkDir('rel-security-');
    pki = await makePki(join(work, 'pki'));
    study = await buildStudy(join(work, 'study'), { small: 3 });
    listener = await startListener({
      STORAGE_URL: `file://${join(work, 'store')}`,
      DICOM_PORT: 'off',
      DICOM_TLS_PORT: '0',
      DICOM_TLS_CERT_FILE: pki.serverCert,
      DICOM_TLS_KEY_FILE: pki.serverKey,
      DICOM_TLS_CA_FILE: pki.caCert,
      DICOM_TLS_REQUIRE_CLIENT_CERT: 'true',
      DICOM_ARTIM_TIMEOUT_SECONDS: '2',
      DICOM_IDLE_TIMEOUT_SECONDS: '3',
      DICOM_STALL_TIMEOUT_SECONDS: '3',
      DRAIN_TIMEOUT_SECONDS: '2',
    });
    tlsPort = listener.tlsPort!;
  });

  afterAll(async () => {
    await listener?.stop().catch(() => undefined);
    await removeWorkDir(work);
  });

  const good = () => ({ key: pki.clientKey, cert: pki.clientCert, ca: [pki.caCert] });
  const tlsSocket = (opts: tls.ConnectionOptions) => () => tls.connect({ host: '127.0.0.1', port: tlsPort, ca: readFileSync(pki.caCert), servername: 'localhost', ...opts });

  test('45 hostile clients at once (plaintext, no certificate, a foreign CA) never get an association, while mutual-TLS senders store', async () => {
    // GIVEN 15 plaintext DICOM clients, 15 TLS clients without a certificate, 15 with a foreign CA's certificate
    const hostile = [
      ...Array.from({ length: 15 }, () => tryAssociate(() => net.connect({ host: '127.0.0.1', port: tlsPort }), 'connect')),
      ...Array.from({ length: 15 }, () => tryAssociate(tlsSocket({}), 'secureConnect')),
      ...Array.from({ length: 15 }, () => tryAssociate(tlsSocket({ key: readFileSync(pki.foreignClientKey), cert: readFileSync(pki.foreignClientCert) }), 'secureConnect')),
    ];
    // WHEN three mutual-TLS storescu senders send a study at the same time
    const senders = Array.from({ length: 3 }, () => storescu('127.0.0.1', tlsPort, study.map((s) => s.path), { aec: 'DICOMS3', aet: 'GOODSCU', tls: good(), timeoutMs: 60_000 }));
    const [outcomes, stores] = await Promise.all([Promise.all(hostile), Promise.all(senders)]);
    // THEN no hostile client saw an A-ASSOCIATE-AC (PDU type 2), every good sender stored everything,
    // and the refused handshakes were logged
    const count: Record<string, number> = {};
    for (const o of outcomes) count[o] = (count[o] ?? 0) + 1;
    const handshakeFailures = listener.logs.filter((l) => l['event'] === 'tls-handshake-failed').length;
    recordFigures({ scenario: 'tls-required-hostile-45', ...count, handshakeFailures });
    expect(outcomes.filter((o) => o === 'pdu-2')).toEqual([]);
    expect(stores.map((s) => s.files.map((f) => f.status))).toEqual(stores.map(() => study.map(() => 0)));
    expect(handshakeFailures).toBeGreaterThanOrEqual(30);
  });

  test('a valid certificate does not get past the AE policy: an unknown called AE is still rejected', async () => {
    // GIVEN a client with a valid certificate, WHEN it calls an AE title the listener does not have
    const echo = await echoscu('127.0.0.1', tlsPort, { aec: 'NOSUCHAE', aet: 'GOODSCU', tls: good() });
    // THEN the association is rejected with that reason
    expect(echo.ok).toBe(false);
    expect(/Reason: (.*)/.exec(echo.stdout + echo.stderr)?.[1]?.trim()).toBe('Called AE Title Not Recognized');
  });

  test('fuzzing around TLS (plaintext to the TLS port) and through it (inside a mutual-TLS session) leaves the listener up, bounded and serving', async () => {
    // GIVEN 80 fuzz cases sent as plaintext to the TLS port, and 80 inside authenticated TLS sessions
    const seed = Number(process.env.FUZZ_SEED ?? 20260607) + 1;
    const plain = await runFuzz({ port: tlsPort, seed, cases: 80, concurrency: 4 });
    const inside = await runFuzz({
      port: tlsPort,
      seed,
      first: 80,
      cases: 80,
      concurrency: 4,
      caseOptions: {
        readyEvent: 'secureConnect',
        connect: (port) => tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pki.caCert), key: readFileSync(pki.clientKey), cert: readFileSync(pki.clientCert), servername: 'localhost' }),
      },
    });
    // WHEN a good sender follows
    const after = await storescu('127.0.0.1', tlsPort, study.map((s) => s.path), { aec: 'DICOMS3', aet: 'GOODSCU', tls: good() });
    // THEN the process is alive and bounded, and the good sender stored everything
    const exited = await Promise.race([listener.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]);
    const endings = (outcomes: { ending: string }[]) => outcomes.reduce<Record<string, number>>((m, o) => ({ ...m, [o.ending]: (m[o.ending] ?? 0) + 1 }), {});
    recordFigures({ scenario: 'fuzz-around-and-through-tls', seed, plaintext: endings(plain.outcomes), insideTls: endings(inside.outcomes), peakRssMb: Math.round(listener.peakRssBytes() / MIB) });
    expect(exited).toBe(false);
    expect(plain.outcomes.length + inside.outcomes.length).toBe(160);
    // Plaintext never gets a DICOM answer out of the TLS port.
    expect(plain.outcomes.filter((o) => o.received[0] === 2)).toEqual([]);
    expect(listener.peakRssBytes()).toBeLessThan(250 * MIB);
    expect(after.files.map((f) => f.status)).toEqual(study.map(() => 0));
  });
});
