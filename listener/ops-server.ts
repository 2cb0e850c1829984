import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OpsHandlers {
  /** Ready to take new associations: false while draining. */
  ready(): boolean;
  metrics(request: http.IncomingMessage, response: http.ServerResponse): void;
}

/**
 * /healthz answers while the event loop does (liveness). /readyz turns 503 while draining so
 * the load balancer stops sending new associations. Storage trouble does not affect
 * readiness: every pod shares the same bucket, so pulling pods out would only turn a
 * storage outage into a DICOM outage, while 0xA700 already tells senders to retry later.
 */
export function createOpsServer(handlers: OpsHandlers): http.Server {
  return http.createServer((request, response) => {
    const url = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (url) {
      case '/healthz':
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const ready = handlers.ready();
        response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'draining\n');
        return;
      }
      case '/metrics':
        handlers.metrics(request, response);
        return;
      default:
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
}

export function listenOps(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
