// A throwaway PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1, a
// client certificate from the same CA, and a client certificate from a foreign CA.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requirePeer } from './peers.ts';

const run = promisify(execFile);

export interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  foreignCaCert: string;
  foreignClientCert: string;
  foreignClientKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run(requirePeer('openssl'), args, { cwd });
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`], dir);
}

/** Issues `<name>.crt`/`<name>.key` signed by the CA `<ca>`, valid for 127.0.0.1 and localhost. */
export async function issue(dir: string, ca: string, name: string, serial: number): Promise<void> {
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  await writeFile(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', String(serial), '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

export async function makePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  await makeCa(dir, 'ca');
  await makeCa(dir, 'foreign-ca');
  await issue(dir, 'ca', 'server', 1001);
  await issue(dir, 'ca', 'client', 1002);
  await issue(dir, 'foreign-ca', 'foreign-client', 2001);
  const path = (file: string) => join(dir, file);
  return {
    dir,
    caCert: path('ca.crt'),
    serverCert: path('server.crt'),
    serverKey: path('server.key'),
    clientCert: path('client.crt'),
    clientKey: path('client.key'),
    foreignCaCert: path('foreign-ca.crt'),
    foreignClientCert: path('foreign-client.crt'),
    foreignClientKey: path('foreign-client.key'),
  };
}
