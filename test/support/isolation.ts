// Network isolation guard.
//
// Orthanc 1.10.1 and dcmtk's storescp 3.6.7 have no bind-address option: they
// listen on every interface. `npm test` (test/support/run-tests.sh) runs the
// whole suite inside a fresh network namespace whose only interface is `lo`,
// so "every interface" means loopback. Starters of such peers call this first
// so that a plain `vitest run` on a networked host fails loudly instead of
// exposing a DICOM/HTTP server (holding PHI canaries) to the network.
import { networkInterfaces } from 'node:os';

/** Names of interfaces that have at least one address (os.networkInterfaces omits address-less ones). */
export function visibleInterfaces(): string[] {
  return Object.keys(networkInterfaces()).sort();
}

export function isNetworkIsolated(): boolean {
  const names = visibleInterfaces();
  return names.length > 0 && names.every((n) => n === 'lo');
}

export function assertIsolatedNetwork(what = 'Orthanc/storescp'): void {
  if (isNetworkIsolated()) return;
  throw new Error(
    `network is not isolated (interfaces: ${visibleInterfaces().join(', ') || 'none'}): ` +
      `run the suite with \`npm test\`, which isolates the network; refusing to start ${what} bound to all interfaces`,
  );
}
