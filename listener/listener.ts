import dimse from 'dcmjs-dimse';
import { AssociationLimiter } from './admission.ts';
import type { AssociationServices } from './association.ts';
import type { ListenerConfig } from './config.ts';
import { installCommandSetCodec } from './dicom/command-set-codec.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './dicom/part10.ts';
import type { InstanceRoute } from './instance-receiver.ts';
import type { Logger } from './log.ts';
import { ListenerMetrics } from './metrics.ts';
import { combineObservers } from './observer.ts';
import { createOpsServer, listenOps } from './ops-server.ts';
import { createStorage } from './storage/create-storage.ts';
import type { Storage } from './storage/storage.ts';
import { otlpMetricReaders } from './telemetry.ts';
import { DicomServer } from './transport/dicom-server.ts';
import { loadTlsOptions, watchTlsFiles } from './transport/tls-credentials.ts';

/** Fits inside the margin the chart adds to the pod's grace period beyond the drain timeout. */
const STORAGE_CLEANUP_MS = 10_000;

export interface RunningListener {
  readonly dicomPort: number | null;
  readonly tlsPort: number | null;
  readonly opsPort: number;
  /** Stops taking associations, lets open ones finish until the drain timeout, then aborts the rest. */
  drain(): Promise<{ aborted: number }>;
}

/** One Storage per distinct storage URL, shared by the AE titles that route to it. */
function createRoutes(config: ListenerConfig, log: Logger): { routes: Map<string, InstanceRoute>; storages: Storage[] } {
  const storages = new Map<string, Storage>();
  const routes = new Map<string, InstanceRoute>();
  for (const ae of config.access.calledAes.values()) {
    const id = JSON.stringify(ae.storage);
    let storage = storages.get(id);
    if (!storage) {
      storage = createStorage(ae.storage, config, log);
      storages.set(id, storage);
    }
    routes.set(ae.aeTitle, { storage, keyTemplate: ae.keyTemplate });
  }
  return { routes, storages: [...storages.values()] };
}

/** Wires config, storage, observers and servers into a running listener. */
export async function startListener(config: ListenerConfig, log: Logger): Promise<RunningListener> {
  // The library's logger is the shared root loglevel logger, at TRACE by default; keep it to warnings.
  dimse.log.setLevel('warn');
  dimse.Implementation.setImplementationClassUid(IMPLEMENTATION_CLASS_UID);
  dimse.Implementation.setImplementationVersion(IMPLEMENTATION_VERSION_NAME);
  dimse.Implementation.setMaxPduLength(config.maxPduLength);
  installCommandSetCodec();

  const { routes, storages } = createRoutes(config, log);
  const servers: DicomServer[] = [];
  const metrics = new ListenerMetrics(() => servers.reduce((sum, server) => sum + server.bytesInFlight, 0), await otlpMetricReaders());
  const limiter = new AssociationLimiter(config.maxAssociations, config.access.maxAssociationsPerCallingAe);
  const services: AssociationServices = {
    policy: { access: config.access, acceptUnknownSopClasses: config.acceptUnknownSopClasses },
    maxPduLength: config.maxPduLength,
    maxInstanceBytes: config.maxInstanceBytes,
    // Negotiation refuses unknown called AEs, so a route always exists for an accepted one.
    route: (calledAeTitle) => routes.get(calledAeTitle)!,
    admit: (callingAeTitle) => limiter.tryAcquire(callingAeTitle),
    release: (callingAeTitle) => limiter.release(callingAeTitle),
    log,
    observer: combineObservers([metrics]),
  };
  const serverOptions = {
    host: config.host,
    limits: {
      maxPduLength: config.maxPduLength,
      artimTimeoutMs: config.artimTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      stallTimeoutMs: config.stallTimeoutMs,
    },
    maxConnections: config.maxAssociations + 64,
    services,
    log,
  };
  const plain = config.port === null ? undefined : new DicomServer({ ...serverOptions, port: config.port });
  const secure = config.tls ? new DicomServer({ ...serverOptions, port: config.tls.port, tls: loadTlsOptions(config.tls) }) : undefined;
  servers.push(...[plain, secure].filter((server) => server !== undefined));
  let draining = false;
  const ops = createOpsServer({
    ready: () => !draining,
    metrics: (request, response) => metrics.handleScrape(request, response),
  });
  const dicomPort = plain ? await plain.listen() : null;
  const tlsPort = secure ? await secure.listen() : null;
  const stopWatching = config.tls && secure?.tlsServer
    ? watchTlsFiles(config.tls, secure.tlsServer, (outcome, message) => {
      if (outcome === 'reloaded') log.info('tls-reloaded', {});
      else log.error('tls-reload-failed', { message, note: 'still serving the previous certificate' });
    })
    : () => undefined;
  const opsPort = await listenOps(ops, config.opsHost, config.opsPort);
  log.info('listening', {
    dicomPort,
    tlsPort,
    opsPort,
    aeTitles: [...config.access.calledAes.keys()].join(','),
    storage: storages.map((storage) => storage.description).join(','),
    maxPduLength: config.maxPduLength,
    mutualTls: config.tls?.requireClientCert ?? false,
  });

  const open = () => servers.reduce((sum, server) => sum + server.associations, 0);
  const waitForAll = async (deadline: number) => (await Promise.all(servers.map((server) => server.waitForAssociations(deadline)))).every(Boolean);
  return {
    dicomPort,
    tlsPort,
    opsPort,
    async drain() {
      draining = true;
      stopWatching();
      const deadline = Date.now() + config.drainTimeoutMs;
      log.info('draining', { associations: open(), drainTimeoutMs: config.drainTimeoutMs });
      for (const server of servers) server.stopAccepting();
      const clean = await waitForAll(deadline);
      const aborted = clean ? 0 : open();
      if (!clean) {
        for (const server of servers) server.abortAll();
        await waitForAll(Date.now() + 5000);
      }
      // Uploads abandoned by aborted associations get a bounded while to be cleaned up.
      const cleanupDeadline = Date.now() + STORAGE_CLEANUP_MS;
      await Promise.all(storages.map((storage) => storage.close(cleanupDeadline)));
      await metrics.shutdown();
      await new Promise((resolve) => ops.close(resolve));
      log.info('drained', { aborted });
      return { aborted };
    },
  };
}
