// Plays fuzz cases against a DICOM port and records how each ended. A case's connection is
// closed by us once the listener has been quiet for a while after the last byte, so a
// case that leaves the listener waiting (a truncated PDU) costs at most `maxMs`.
import net from 'node:net';
import { generateCase, type FuzzCase } from './mutator.ts';

export type Ending = 'server-closed' | 'server-aborted' | 'rejected' | 'answered-then-quiet' | 'quiet' | 'connect-failed';

export interface CaseOutcome {
  index: number;
  kind: string;
  ending: Ending;
  /** PDU types the listener sent, in order (best effort framing). */
  received: number[];
  ms: number;
}

function pduTypes(bytes: Buffer): number[] {
  const out: number[] = [];
  let off = 0;
  while (off + 6 <= bytes.length) {
    out.push(bytes[off]!);
    off += 6 + bytes.readUInt32BE(off + 2);
  }
  return out;
}

export interface CaseOptions {
  quietMs?: number;
  maxMs?: number;
  /** Opens the connection (default plain TCP to 127.0.0.1:port), e.g. a TLS socket; resolves on `readyEvent`. */
  connect?: (port: number) => net.Socket;
  readyEvent?: 'connect' | 'secureConnect';
}

export async function runCase(port: number, c: FuzzCase, { quietMs = 250, maxMs = 4_000, connect, readyEvent = 'connect' }: CaseOptions = {}): Promise<CaseOutcome> {
  const started = Date.now();
  const socket = connect ? connect(port) : net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  const received: Buffer[] = [];
  let lastActivity = Date.now();
  let closed = false;
  let connectFailed = false;
  socket.on('data', (d: Buffer) => {
    received.push(d);
    lastActivity = Date.now();
  });
  socket.on('error', () => undefined);
  const closedP = new Promise<void>((resolve) => socket.on('close', () => {
    closed = true;
    resolve();
  }));
  await new Promise<void>((resolve) => {
    socket.once(readyEvent, () => resolve());
    socket.once('error', () => {
      connectFailed = true;
      resolve();
    });
  });
  if (connectFailed) return { index: c.index, kind: c.kind, ending: 'connect-failed', received: [], ms: Date.now() - started };
  for (const step of c.steps) {
    if (closed) break;
    if (step.delayMs > 0) await new Promise((r) => setTimeout(r, step.delayMs));
    if (closed) break;
    const ok = socket.write(step.bytes);
    lastActivity = Date.now();
    if (!ok) await Promise.race([new Promise((r) => socket.once('drain', r)), closedP, new Promise((r) => setTimeout(r, maxMs))]);
  }
  while (!closed && Date.now() - lastActivity < quietMs && Date.now() - started < maxMs) {
    await Promise.race([closedP, new Promise((r) => setTimeout(r, 25))]);
  }
  const wasClosed = closed;
  socket.destroy();
  const types = pduTypes(Buffer.concat(received));
  let ending: Ending;
  if (types.includes(3)) ending = 'rejected';
  else if (types.includes(7)) ending = 'server-aborted';
  else if (wasClosed) ending = 'server-closed';
  else ending = types.length ? 'answered-then-quiet' : 'quiet';
  return { index: c.index, kind: c.kind, ending, received: types, ms: Date.now() - started };
}

export interface FuzzRunOptions {
  port: number;
  seed: number;
  cases: number;
  /** Case indices start here (to resume or replay a range). */
  first?: number;
  concurrency?: number;
  /** Called before each case; return false to stop the run (e.g. the listener died). */
  keepGoing?: () => boolean;
  onCase?: (c: FuzzCase, o: CaseOutcome) => void;
  caseOptions?: CaseOptions;
}

export interface FuzzRunResult {
  outcomes: CaseOutcome[];
  /** Cases that were on the wire when the run stopped early, for the crash report. */
  inFlight: FuzzCase[];
  stoppedEarly: boolean;
}

/** Plays cases first..first+cases-1 with `concurrency` connections at a time. */
export async function runFuzz(o: FuzzRunOptions): Promise<FuzzRunResult> {
  const first = o.first ?? 0;
  const outcomes: CaseOutcome[] = [];
  const inFlight = new Map<number, FuzzCase>();
  let next = first;
  let stoppedEarly = false;
  const worker = async () => {
    while (next < first + o.cases) {
      if (o.keepGoing && !o.keepGoing()) {
        stoppedEarly = true;
        return;
      }
      const c = generateCase(o.seed, next++);
      inFlight.set(c.index, c);
      const outcome = await runCase(o.port, c, o.caseOptions);
      outcomes.push(outcome);
      o.onCase?.(c, outcome);
      if (o.keepGoing && !o.keepGoing()) {
        stoppedEarly = true;
        return;
      }
      inFlight.delete(c.index);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 6 }, worker));
  return { outcomes: outcomes.sort((a, b) => a.index - b.index), inFlight: [...inFlight.values()], stoppedEarly };
}
