/**
 * The DicomDestination controller process.
 *
 *   In the cluster: the Deployment in k8s/<env>/ (image from charts/operator/Dockerfile).
 *   On a laptop:    WATCH_NAMESPACE=dicom ENVIRONMENT_NAME=dev LISTENER_IMAGE=... AWS_REGION=... \
 *                   node charts/operator/controller-main.ts        (uses KUBECONFIG / ~/.kube/config)
 *
 * Configuration errors exit with status 1 and the variable at fault; everything about a
 * DicomDestination itself ends up in its status instead.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { loadControllerConfig } from './controller-config.ts';
import { DestinationController, jsonLogger, type Logger, type LogLevel } from './controller.ts';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

async function main(): Promise<void> {
  let config;
  try {
    config = loadControllerConfig(process.env);
  } catch (error) {
    process.stderr.write(`dicom-destination-controller: invalid configuration: ${(error as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const minimum = LEVELS.indexOf(config.logLevel);
  const log: Logger = (level, message, fields) => {
    if (LEVELS.indexOf(level) >= minimum) jsonLogger(level, message, fields);
  };

  // In a pod: the service-account token and the in-cluster API address. Elsewhere: KUBECONFIG or ~/.kube/config.
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const controller = new DestinationController({
    kubeConfig,
    settings: config.settings,
    namespace: config.namespace,
    resyncMs: config.resyncSeconds * 1000,
    log,
  });

  // Liveness: the event loop answers. Readiness: every informer has listed since its last error.
  const ops = http.createServer((request, response) => {
    const ok = request.url === '/healthz' || (request.url === '/readyz' && controller.synced);
    const known = request.url === '/healthz' || request.url === '/readyz';
    response.writeHead(known ? (ok ? 200 : 503) : 404, { 'Content-Type': 'text/plain' });
    response.end(known ? (ok ? 'ok\n' : 'informers not synced\n') : 'not found\n');
  });
  await new Promise<void>((resolve) => ops.listen(config.opsPort, resolve));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'stopping', { signal });
    await controller.stop();
    ops.closeAllConnections();
    await new Promise((resolve) => ops.close(resolve));
    log('info', 'stopped');
  };
  process.once('SIGTERM', (signal) => void stop(signal));
  process.once('SIGINT', (signal) => void stop(signal));

  log('info', 'starting', {
    namespace: config.namespace === '' ? '*' : config.namespace,
    server: kubeConfig.getCurrentCluster()?.server,
    opsPort: (ops.address() as AddressInfo).port,
    listenerImage: config.settings.listenerImage,
  });
  await controller.start();
}

await main();
