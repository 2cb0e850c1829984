import dimse from 'dcmjs-dimse';
import { AssociationLimiter } from './admission.ts';
import type { AssociationServices } from './association.ts';
import type { ListenerConfig } from './config.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './dicom/part10.ts';
import type { Logger } from './log.ts';
import { ListenerMetrics } from './metrics.ts';
import { combineObservers } from './observer.ts';
import { createOpsServer, listenOps } from './ops-server.ts';
import { createStorage } from './storage/create-storage.ts';
import { DicomServer } from './transport/dicom-server.ts';

export interface RunningListener {
  readonly dicomPort: number;
  readonly opsPort: number;
  /** Stops taking associations, lets open ones finish until the drain timeout, then aborts the rest. */
  drain(): Promise<{ aborted: number }>;
}

/** Wires config, storage, observers and servers into a running listener. */
export async function startListener(config: ListenerConfig, log: Logger): Promise<RunningListener> {
  // The library's logger is the shared root loglevel logger, at TRACE by default; keep it to warnings.
  dimse.log.setLevel('warn');
  dimse.Implementation.setImplementationClassUid(IMPLEMENTATION_CLASS_UID);
  dimse.Implementation.setImplementationVersion(IMPLEMENTATION_VERSION_NAME);
  dimse.Implementation.setMaxPduLength(config.maxPduLength);

  const storage = createStorage(config.storage, config, log);
  const metrics = new ListenerMetrics();
  const limiter = new AssociationLimiter(config.maxAssociations);
  const route = { storage, keyTemplate: config.keyTemplate };
  const services: AssociationServices = {
    policy: { aeTitles: config.aeTitles, allowedCallingAeTitles: config.allowedCallingAeTitles, acceptUnknownSopClasses: config.acceptUnknownSopClasses },
    maxPduLength: config.maxPduLength,
    maxInstanceBytes: config.maxInstanceBytes,
    route: () => route,
    admit: () => limiter.tryAcquire(),
    release: () => limiter.release(),
    log,
    observer: combineObservers([metrics]),
  };

  const dicom = new DicomServer({
    host: config.host,
    port: config.port ?? 0,
    limits: {
      maxPduLength: config.maxPduLength,
      artimTimeoutMs: config.artimTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      stallTimeoutMs: config.stallTimeoutMs,
    },
    maxConnections: config.maxAssociations + 64,
    services,
    log,
  });
  let draining = false;
  const ops = createOpsServer({
    ready: () => !draining,
    metrics: (request, response) => metrics.handleScrape(request, response),
  });
  const dicomPort = await dicom.listen();
  const opsPort = await listenOps(ops, config.opsHost, config.opsPort);
  log.info('listening', {
    dicomPort,
    tlsPort: null,
    opsPort,
    aeTitles: config.aeTitles.join(','),
    storage: storage.description,
    maxPduLength: config.maxPduLength,
  });

  return {
    dicomPort,
    opsPort,
    async drain() {
      draining = true;
      const deadline = Date.now() + config.drainTimeoutMs;
      log.info('draining', { associations: dicom.associations, drainTimeoutMs: config.drainTimeoutMs });
      await dicom.stopAccepting();
      const clean = await dicom.waitForAssociations(deadline);
      const aborted = clean ? 0 : dicom.associations;
      if (!clean) {
        dicom.abortAll();
        await dicom.waitForAssociations(Date.now() + 5000);
      }
      await storage.close();
      await metrics.shutdown();
      await new Promise((resolve) => ops.close(resolve));
      log.info('drained', { aborted });
      return { aborted };
    },
  };
}
