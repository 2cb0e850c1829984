// An HTTP-aware fault-injecting proxy for S3 on loopback: the listener talks to it instead of
// the gateway, and a test decides, per S3 operation, which requests pass, wait, fail with a
// 500/503 and an S3 XML error body, lose their connection, or are answered with an error
// after the gateway already did the work.
//
// Requests are parsed (request line and headers, by node:http) and forwarded with their
// headers unchanged, Host included, so SigV4 signatures stay valid. `Expect: 100-continue`
// is answered here and not forwarded (the SDK never signs it). The operation is classified
// from method + query, the way S3 does it:
//   POST ?uploads            CreateMultipartUpload
//   PUT  ?partNumber&uploadId UploadPart
//   POST ?uploadId           CompleteMultipartUpload
//   DELETE ?uploadId         AbortMultipartUpload
//   PUT  (no query but x-id) PutObject
//   HEAD / GET / others      HeadObject, GetObject, ListMultipartUploads, ...
// A faulted request is answered without reaching the gateway (phase 'request'), or after it
// (phase 'response': the gateway did the work, the client hears a failure), and its
// connection is closed (`Connection: close`), as a failing S3 front end does.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

export type S3Operation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListMultipartUploads'
  | 'PutObject'
  | 'HeadObject'
  | 'GetObject'
  | 'DeleteObject'
  | 'Other';

export type FaultAction = 'fail' | 'delay' | 'reset';

export interface FaultRule {
  /** Label for stats; defaults to the action and match. */
  name?: string;
  /** Which requests the rule applies to; omitted fields match anything. */
  match?: {
    operation?: S3Operation | S3Operation[];
    method?: string;
    /** A query parameter that must be present, e.g. 'partNumber', 'uploads', 'uploadId'. */
    query?: string;
  };
  action: FaultAction;
  /** For 'fail': 500 (InternalError) or 503 (SlowDown / ServiceUnavailable). Default 503. */
  status?: 500 | 503;
  /** S3 error code in the XML body; default InternalError for 500, SlowDown for 503. */
  code?: string;
  /** 'request' (default): answer without forwarding. 'response': forward, then answer with the error. */
  phase?: 'request' | 'response';
  /** For 'delay': milliseconds to hold the request before forwarding it. */
  delayMs?: number;
  /** Apply to every Nth matching request (1 = all). */
  every?: number;
  /** Or apply to this fraction of matching requests (seeded, reproducible order of decisions). */
  fraction?: number;
  /** Let this many matching requests through untouched before the rule starts applying. */
  after?: number;
  /** Stop applying after this many faults. */
  times?: number;
}

export interface OperationStats {
  requests: number;
  /** Requests a fail/reset rule answered or cut. */
  faults: number;
  delayed: number;
}

export interface FaultProxy {
  port: number;
  endpoint: string;
  /** Replaces the rules; the first rule that matches and fires decides a request. */
  setRules(rules: FaultRule[]): void;
  /** Caps request and response bodies at this many bytes per second; Infinity removes the cap. */
  setThrottle(bytesPerSecond: number): void;
  /** Back to pass-through: no rules, no throttle. */
  pass(): void;
  stats(): Record<string, OperationStats>;
  /** Total faults injected since start. */
  faults(): number;
  close(): Promise<void>;
}

/** Which S3 operation a request is. */
export function classify(method: string, url: string): S3Operation {
  const q = new URL(url, 'http://x').searchParams;
  // The SDK tags requests with ?x-id=<Operation>; S3 ignores it, so does the classification.
  q.delete('x-id');
  const path = url.split('?')[0] ?? '/';
  const isObject = path.split('/').filter(Boolean).length >= 2;
  switch (method) {
    case 'POST':
      if (q.has('uploads')) return 'CreateMultipartUpload';
      if (q.has('uploadId')) return 'CompleteMultipartUpload';
      return 'Other';
    case 'PUT':
      if (q.has('partNumber') && q.has('uploadId')) return 'UploadPart';
      return isObject && q.size === 0 ? 'PutObject' : 'Other';
    case 'DELETE':
      if (q.has('uploadId')) return 'AbortMultipartUpload';
      return isObject ? 'DeleteObject' : 'Other';
    case 'HEAD':
      return isObject ? 'HeadObject' : 'Other';
    case 'GET':
      if (q.has('uploads')) return 'ListMultipartUploads';
      return isObject ? 'GetObject' : 'Other';
    default:
      return 'Other';
  }
}

/** mulberry32: a tiny seeded PRNG, enough for reproducible fault decisions. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function errorBody(code: string, message: string, resource: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>${resource.replace(/[<&>]/g, '')}</Resource><RequestId>fault-proxy</RequestId></Error>`;
}

/** Paces a body stream at the proxy's current rate (read at each chunk). */
class Pacer extends Transform {
  readonly #rate: () => number;
  constructor(rate: () => number) {
    super({ highWaterMark: 64 * 1024 });
    this.#rate = rate;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const rate = this.#rate();
    if (!Number.isFinite(rate)) return callback(null, chunk);
    // Small slices keep the pace smooth for big parts.
    const slice = Math.max(1024, Math.floor(rate / 10));
    const pieces: Buffer[] = [];
    for (let off = 0; off < chunk.length; off += slice) pieces.push(chunk.subarray(off, off + slice));
    const next = (): void => {
      const piece = pieces.shift();
      if (!piece) return callback();
      this.push(piece);
      setTimeout(next, (piece.length / this.#rate()) * 1000);
    };
    next();
  }
}

interface RuleState {
  rule: FaultRule;
  seen: number;
  fired: number;
  random: () => number;
}

export async function startFaultProxy(targetPort: number, { seed = 1, targetHost = '127.0.0.1' }: { seed?: number; targetHost?: string } = {}): Promise<FaultProxy> {
  let rules: RuleState[] = [];
  let rate = Infinity;
  const stats: Record<string, OperationStats> = {};
  let totalFaults = 0;
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  const statFor = (op: string): OperationStats => (stats[op] ??= { requests: 0, faults: 0, delayed: 0 });

  /** The first rule that matches and decides to fire for this request, if any. */
  const decide = (op: S3Operation, method: string, url: string): FaultRule | undefined => {
    const q = new URL(url, 'http://x').searchParams;
    for (const state of rules) {
      const { match = {}, every, fraction, times, after = 0 } = state.rule;
      const ops = match.operation === undefined ? undefined : Array.isArray(match.operation) ? match.operation : [match.operation];
      if (ops && !ops.includes(op)) continue;
      if (match.method && match.method !== method) continue;
      if (match.query && !q.has(match.query)) continue;
      state.seen += 1;
      if (state.seen <= after) continue;
      if (times !== undefined && state.fired >= times) continue;
      let fire = true;
      if (every !== undefined) fire = (state.seen - after) % every === 0;
      else if (fraction !== undefined) fire = state.random() < fraction;
      if (!fire) continue;
      state.fired += 1;
      return state.rule;
    }
    return undefined;
  };

  const sendError = (res: http.ServerResponse, rule: FaultRule, url: string): void => {
    const status = rule.status ?? 503;
    const code = rule.code ?? (status === 500 ? 'InternalError' : 'SlowDown');
    const body = errorBody(code, status === 500 ? 'We encountered an internal error. Please try again.' : 'Please reduce your request rate.', url);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close', 'x-amz-request-id': 'fault-proxy' });
    res.end(body);
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, onResponse?: (upstream: http.IncomingMessage) => void): void => {
    // Raw header pairs, minus hop-by-hop ones this proxy answers itself.
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (/^(expect|connection|keep-alive|proxy-connection)$/i.test(name)) continue;
      headers.push(name, req.rawHeaders[i + 1]!);
    }
    const upstream = http.request({ host: targetHost, port: targetPort, method: req.method, path: req.url, headers, agent });
    upstream.on('response', (up) => {
      if (onResponse) return onResponse(up);
      const out: string[] = [];
      for (let i = 0; i < up.rawHeaders.length; i += 2) {
        if (/^(connection|keep-alive|transfer-encoding)$/i.test(up.rawHeaders[i]!)) continue;
        out.push(up.rawHeaders[i]!, up.rawHeaders[i + 1]!);
      }
      res.writeHead(up.statusCode ?? 502, up.statusMessage, out);
      up.pipe(new Pacer(() => rate)).pipe(res);
    });
    upstream.on('error', () => {
      // The gateway is down or dropped us: the client sees its connection drop, like it would without the proxy.
      res.destroy();
    });
    req.on('aborted', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(new Pacer(() => rate)).pipe(upstream);
  };

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const op = classify(method, url);
    const s = statFor(op);
    s.requests += 1;
    const rule = decide(op, method, url);
    if (!rule) return forward(req, res);
    switch (rule.action) {
      case 'delay':
        s.delayed += 1;
        req.pause();
        setTimeout(() => {
          req.resume();
          forward(req, res);
        }, rule.delayMs ?? 1000);
        return;
      case 'reset':
        s.faults += 1;
        totalFaults += 1;
        req.socket.destroy();
        return;
      case 'fail':
        s.faults += 1;
        totalFaults += 1;
        if (rule.phase === 'response') {
          forward(req, res, (up) => {
            up.resume();
            up.on('end', () => sendError(res, rule, url));
          });
          return;
        }
        // Answer at once; the body (if any) is not wanted, and the connection closes after the answer.
        req.resume();
        sendError(res, rule, url);
        return;
      default: {
        const unreachable: never = rule.action;
        throw new Error(`unknown fault action ${String(unreachable)}`);
      }
    }
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    setRules(next) {
      rules = next.map((rule, i) => ({ rule, seen: 0, fired: 0, random: seededRandom(seed * 7919 + i) }));
    },
    setThrottle(bytesPerSecond) {
      rate = bytesPerSecond;
    },
    pass() {
      rules = [];
      rate = Infinity;
    },
    stats: () => structuredClone(stats),
    faults: () => totalFaults,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
