import net from 'node:net';
import tls from 'node:tls';
import { DicomAssociation, type AssociationServices } from '../association.ts';
import type { Logger } from '../log.ts';
import { DicomConnection, type ConnectionLimits } from './dicom-connection.ts';

export interface DicomServerOptions {
  readonly host: string;
  readonly port: number;
  /** Serve DICOM TLS with these options instead of plain TCP. */
  readonly tls?: tls.TlsOptions;
  readonly limits: ConnectionLimits;
  /** Raw TCP connections beyond this are closed at once; below it, extra associations get a proper reject. */
  readonly maxConnections: number;
  readonly services: AssociationServices;
  readonly log: Logger;
}

/**
 * Owns the listening socket and every connection on it. dcmjs-dimse's own Server cannot bind a
 * host or cap connections, so each accepted socket is wrapped here and handed to an association.
 */
export class DicomServer {
  readonly #options: DicomServerOptions;
  readonly #server: net.Server | tls.Server;
  readonly #associations = new Set<DicomAssociation>();

  constructor(options: DicomServerOptions) {
    this.#options = options;
    if (options.tls) {
      const server = tls.createServer({ ...options.tls, noDelay: true }, (socket) => this.#accept(socket));
      // A failed handshake (plaintext, no or a foreign client certificate) never reaches DICOM.
      server.on('tlsClientError', (error, socket) => {
        options.log.warn('tls-handshake-failed', { peer: socket.remoteAddress, reason: error.message });
        options.services.observer.violation('tls-handshake');
      });
      this.#server = server;
    } else {
      this.#server = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
    }
    this.#server.maxConnections = options.maxConnections;
  }

  /** The TLS server, for certificate reloads; undefined on the plain port. */
  get tlsServer(): tls.Server | undefined {
    return this.#server instanceof tls.Server ? this.#server : undefined;
  }

  get associations(): number {
    return this.#associations.size;
  }

  get bytesInFlight(): number {
    let bytes = 0;
    for (const association of this.#associations) bytes += association.bytesInFlight;
    return bytes;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting: new connections are refused; open associations carry on. (close()'s own
   * callback would wait for every connection to end, which is what the drain deadline bounds.)
   */
  stopAccepting(): void {
    this.#server.close();
  }

  /** Resolves true once every association has ended, false if the deadline passed first. */
  async waitForAssociations(deadline: number): Promise<boolean> {
    while (this.#associations.size > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return true;
  }

  abortAll(): void {
    for (const association of this.#associations) association.abortForShutdown();
  }

  #accept(socket: net.Socket): void {
    socket.on('error', () => undefined);
    try {
      const connection = new DicomConnection(socket, this.#options.limits);
      const association = new DicomAssociation(connection, this.#options.services);
      this.#associations.add(association);
      connection.on('close', () => this.#associations.delete(association));
    } catch (error) {
      this.#options.log.error('connection-setup-failed', { message: (error as Error).message });
      socket.destroy();
    }
  }
}
