// A TCP proxy on loopback that forwards to a target at a capped rate: slow storage on demand,
// without touching the storage server itself.
import net from 'node:net';

export interface ThrottleProxy {
  port: number;
  endpoint: string;
  /** Bytes per second, each direction; Infinity removes the cap. */
  setRate(bytesPerSecond: number): void;
  close(): Promise<void>;
}

export async function startThrottleProxy(targetPort: number, bytesPerSecond: number): Promise<ThrottleProxy> {
  let rate = bytesPerSecond;
  const sockets = new Set<net.Socket>();
  const pump = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk: Buffer) => {
      to.write(chunk);
      if (!Number.isFinite(rate)) return;
      from.pause();
      setTimeout(() => from.resume(), (chunk.length / rate) * 1000);
    });
    from.on('end', () => to.end());
    from.on('error', () => to.destroy());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    pump(client, upstream);
    pump(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    setRate: (next) => {
      rate = next;
    },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
