// Peer binaries (dcmtk, Orthanc, Ceph) come from Debian packages that
// test/support/run-tests.sh installs. A missing binary is always a failure:
// a skipped interop test looks green while proving nothing.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Which Debian package provides each peer command (for the error message). */
export const PEER_PACKAGES: Readonly<Record<string, string>> = {
  storescu: 'dcmtk',
  echoscu: 'dcmtk',
  storescp: 'dcmtk',
  dcmftest: 'dcmtk',
  dcmdump: 'dcmtk',
  dcmconv: 'dcmtk',
  dcmcjpeg: 'dcmtk',
  dcmcjpls: 'dcmtk',
  dcmcrle: 'dcmtk',
  Orthanc: 'orthanc',
  'ceph-mon': 'ceph-mon',
  'ceph-osd': 'ceph-osd',
  monmaptool: 'ceph-base',
  ceph: 'ceph-common',
  radosgw: 'radosgw',
  'radosgw-admin': 'radosgw',
  uuidgen: 'uuid-runtime',
  unshare: 'util-linux',
  ip: 'iproute2',
  openssl: 'openssl',
};

/** Extra directories searched besides PATH (Orthanc lives in /usr/sbin, often not on a user's PATH). */
const EXTRA_DIRS = ['/usr/sbin', '/sbin', '/usr/bin'];

/** Absolute path of `cmd`, or undefined. */
export function findPeer(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Absolute path of a peer binary; throws when missing. Under CI the message
 * says the provisioning step failed; locally it names the apt package.
 * Never returns "skip": we do not silently skip interop tests.
 */
export function requirePeer(cmd: string): string {
  const found = findPeer(cmd);
  if (found) return found;
  const pkg = PEER_PACKAGES[cmd] ?? '(unknown package)';
  const install = `apt-get install -y --no-install-recommends ${pkg}`;
  if (process.env.CI === 'true') {
    throw new Error(`CI: required peer \`${cmd}\` (Debian package ${pkg}) is not installed; test/support/run-tests.sh should have provisioned it (${install})`);
  }
  throw new Error(`required peer \`${cmd}\` is missing: run \`npm test\` (it provisions peers) or \`sudo ${install}\``);
}
