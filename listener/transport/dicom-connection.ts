import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Largest P-DATA-TF variable field we accept; the value we advertise. */
  readonly maxPduLength: number;
  readonly artimTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly stallTimeoutMs: number;
}

/**
 * What the association is doing, which decides the timer that applies:
 * - `awaiting-request`: ARTIM until the A-ASSOCIATE-RQ arrives;
 * - `idle`: between operations, the idle timeout;
 * - `receiving`: mid-instance, the stall timeout, suspended while storage holds the socket paused;
 * - `storing`: the sender waits for our response, so silence is expected and no timer runs.
 */
export type Phase = 'awaiting-request' | 'idle' | 'receiving' | 'storing';

/**
 * Where the data set of the C-STORE in flight goes once the library has opened it: data PDVs
 * on its presentation context are written here as they arrive, never assembled into PDUs.
 */
export interface DataSink {
  readonly presentationContextId: number;
  write(value: Buffer): void;
}

export type Violation = 'pdu-too-large' | 'unknown-pdu-type' | 'unexpected-pdu' | 'bad-pdu-length' | 'artim-timeout' | 'idle-timeout' | 'stall-timeout';

const A_ASSOCIATE_RQ = 0x01;
const P_DATA_TF = 0x04;
const A_ABORT = 0x07;
/** What an acceptor may receive once associated (PS3.8 9.2 state table): data, release, abort. */
const ASSOCIATED_PDUS = new Set([P_DATA_TF, 0x05, A_ABORT]);
/** Only an A-ASSOCIATE-RQ may be larger than fixed-size control PDUs; 256 KiB fits any sane proposal. */
const MAX_ASSOCIATE_RQ_LENGTH = 256 * 1024;
/** PS3.8 9.3.8 A-ABORT reasons: 0 not specified, 1 unrecognized PDU, 2 unexpected PDU, 6 invalid PDU parameter value. */
const ABORT_REASON: Record<Violation, number> = {
  'pdu-too-large': 6,
  'bad-pdu-length': 6,
  'unknown-pdu-type': 1,
  'unexpected-pdu': 2,
  'artim-timeout': 0,
  'idle-timeout': 0,
  'stall-timeout': 0,
};
const FIXED_LENGTH_PDUS = new Set([0x05, 0x06, 0x07]);
const KNOWN_PDUS = new Set([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]);
/** Message control header of a PDV (PS3.8 E.2): bit 0 command (else data), bit 1 last fragment. */
const PDV_COMMAND = 0x01;
const PDV_LAST = 0x02;

function pDataHeader(length: number): Buffer {
  const header = Buffer.alloc(6);
  header[0] = P_DATA_TF;
  header.writeUInt32BE(length, 2);
  return header;
}

/**
 * Where the PDV after a data set's last fragment starts, if the P-DATA-TF `pdu` holds one
 * there; undefined otherwise, or when its items do not add up (the library judges those).
 */
function endOfFirstDataSet(pdu: Buffer): number | undefined {
  let offset = 6;
  while (offset + 6 <= pdu.length) {
    const itemLength = pdu.readUInt32BE(offset);
    const next = offset + 4 + itemLength;
    if (itemLength < 2 || next > pdu.length) return undefined;
    const controlHeader = pdu[offset + 5]!;
    if ((controlHeader & (PDV_COMMAND | PDV_LAST)) === PDV_LAST && next < pdu.length) return next;
    offset = next;
  }
  return undefined;
}

/**
 * The socket as dcmjs-dimse sees it. It frames the byte stream into whole PDUs before the
 * library sees them, which (a) refuses a PDU whose declared length exceeds our limit before
 * buffering it, (b) hands the library exactly one PDU per 'data' event so its accumulator
 * never re-concatenates, and (c) lets storage pause delivery PDU by PDU. It also owns the
 * ARTIM, idle and stall timers, because the library's own timers cannot tell a slow sender
 * from slow storage.
 *
 * Once a data set is being received (see `streamDataTo`), a P-DATA-TF holding a single data
 * PDV of that instance skips the library: its value goes to the sink as slices of the socket
 * chunks, and the library is handed only an empty last fragment, so it still ends the instance
 * and answers it. Copying each PDU and parsing it into library objects was the largest cost
 * of receiving large instances (docs/benchmarks.md).
 */
export class DicomConnection extends EventEmitter {
  readonly socket: Socket;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly #limits: ConnectionLimits;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #expected = -1;
  #pduType = 0;
  #pauses = 0;
  #phase: Phase = 'awaiting-request';
  /** When the association last made progress: a whole PDU received, or storage holding us back. */
  #lastProgress = Date.now();
  readonly #connectedAt = Date.now();
  #associated = false;
  #timer: NodeJS.Timeout;
  #closed = false;
  /** Set once we abort: whatever the peer sent after the violation is never handed on. */
  #halted = false;
  #sink: DataSink | undefined;
  /** The sink the PDV being streamed goes to, and its value bytes not yet passed on. */
  #streamingTo: DataSink | undefined;
  #streaming = 0;
  #streamingLast = false;

  constructor(socket: Socket, limits: ConnectionLimits) {
    super();
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.#limits = limits;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.emit('error', error));
    socket.on('close', () => {
      this.#closed = true;
      clearInterval(this.#timer);
      this.emit('close');
    });
    this.#timer = setInterval(() => this.#checkTimers(), Math.min(1000, limits.artimTimeoutMs / 4, limits.stallTimeoutMs / 4));
    this.#timer.unref();
  }

  get phase(): Phase {
    return this.#phase;
  }

  /**
   * Moves to `phase`. While `storing`, the sender is waiting for our response: with no
   * asynchronous operations negotiated it must not send more, and if it pipelines anyway its
   * PDUs wait unread until the response has gone out, so one C-STORE never overlaps another.
   */
  setPhase(phase: Phase): void {
    if (phase === 'storing' && this.#phase !== 'storing') this.pause();
    const wasStoring = this.#phase === 'storing';
    this.#phase = phase;
    this.#lastProgress = Date.now();
    // Deferred: the response is sent from inside dcmjs-dimse's own callback, which still holds
    // the finished operation; a PDU delivered before it unwinds would be taken as part of it.
    if (wasStoring && phase !== 'storing') process.nextTick(() => this.resume());
  }

  /** Storage is behind: stop delivering PDUs and stop reading the socket. Calls nest. */
  pause(): void {
    if (this.#pauses++ === 0) this.socket.pause();
  }

  resume(): void {
    if (this.#pauses === 0 || --this.#pauses > 0) return;
    this.#lastProgress = Date.now();
    this.#deliver();
    if (this.#pauses === 0 && !this.#closed) this.socket.resume();
  }

  // The Socket surface dcmjs-dimse uses.
  write(data: Buffer): boolean {
    return this.#closed ? false : this.socket.write(data);
  }
  end(): void {
    this.socket.end();
  }
  destroy(): void {
    this.socket.destroy();
  }
  setTimeout(): void {
    // Timeouts are ours (see #checkTimers); the library's socket idle timeout would fire while storage holds the socket paused.
  }

  /** Routes the data PDVs of the instance in flight to `sink` until its last fragment; `undefined` stops. */
  streamDataTo(sink: DataSink | undefined): void {
    this.#sink = sink;
  }

  /** Sends an A-ABORT (service-provider, reason as given) and closes: the way out of any protocol state. */
  abort(reason = 0): void {
    this.#halted = true;
    if (this.#closed) return;
    const pdu = Buffer.from([0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, reason]);
    this.socket.end(pdu);
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  #receive(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#deliver();
  }

  #deliver(): void {
    while (this.#pauses === 0 && !this.#closed && !this.#halted) {
      if (this.#streaming > 0) {
        if (this.#buffered === 0) return;
        const value = this.#takeUpTo(this.#streaming);
        this.#streaming -= value.length;
        this.#streamingTo?.write(value);
        if (this.#streaming === 0) this.#endStreamedPdu();
        continue;
      }
      if (this.#expected < 0) {
        if (this.#buffered < 6) return;
        const header = this.#peek(6);
        const type = header[0]!;
        const length = header.readUInt32BE(2);
        const violation = this.#check(type, length) ?? this.#sequenceViolation(type);
        if (violation) return this.#violate(violation);
        this.#expected = 6 + length;
        this.#pduType = type;
      }
      if (this.#sink && this.#pduType === P_DATA_TF && this.#expected >= 12) {
        if (this.#buffered < 12) return;
        if (this.#startStreamedPdu()) continue;
      }
      if (this.#buffered < this.#expected) return;
      const pdu = this.#holdBackAfterDataSet(this.#take(this.#expected));
      this.#expected = -1;
      // Bytes alone are no progress: a sender trickling one byte at a time must still time out.
      this.#lastProgress = Date.now();
      if (pdu[0] === A_ASSOCIATE_RQ && !this.#associated) {
        this.#associated = true;
        this.setPhase('idle');
      }
      this.emit('data', pdu);
    }
  }

  /**
   * A P-DATA-TF may end one data set and go on with the next message. The library would take
   * both at once, though the first is answered only once it is stored; the next request then
   * overwrote the one in flight, and neither was ever answered. So the PDVs after a data set's
   * last fragment go back to the front of the queue as a PDU of their own, and wait, like any
   * other PDU, until the instance has been answered.
   */
  #holdBackAfterDataSet(pdu: Buffer): Buffer {
    if (pdu[0] !== P_DATA_TF) return pdu;
    const end = endOfFirstDataSet(pdu);
    if (end === undefined) return pdu;
    const rest = pdu.subarray(end);
    this.#chunks.unshift(pDataHeader(rest.length), rest);
    this.#buffered += 6 + rest.length;
    return Buffer.concat([pDataHeader(end - 6), pdu.subarray(6, end)]);
  }

  /** Streams the PDU at the front if it is exactly one data PDV on the sink's context. */
  #startStreamedPdu(): boolean {
    const head = this.#peek(12);
    const itemLength = head.readUInt32BE(6);
    const controlHeader = head[11]!;
    const single = itemLength + 4 === this.#expected - 6;
    if (!single || head[10] !== this.#sink!.presentationContextId || (controlHeader & PDV_COMMAND) !== 0) return false;
    this.#take(12);
    this.#expected = -1;
    this.#streamingTo = this.#sink;
    this.#streaming = itemLength - 2;
    this.#streamingLast = (controlHeader & PDV_LAST) !== 0;
    if (this.#streaming === 0) this.#endStreamedPdu();
    return true;
  }

  #endStreamedPdu(): void {
    this.#lastProgress = Date.now();
    const sink = this.#streamingTo;
    const last = this.#streamingLast;
    this.#streamingTo = undefined;
    this.#streamingLast = false;
    if (!last || !sink) return;
    // Unless the association dropped the instance meanwhile, the library ends and answers it.
    if (this.#sink !== sink) return;
    this.#sink = undefined;
    // P-DATA-TF, one PDV of length 2: the context, then "data, last fragment", and no value.
    this.emit('data', Buffer.from([P_DATA_TF, 0, 0, 0, 0, 6, 0, 0, 0, 2, sink.presentationContextId, PDV_LAST]));
  }

  #check(type: number, length: number): Violation | undefined {
    if (!KNOWN_PDUS.has(type)) return 'unknown-pdu-type';
    if (type === P_DATA_TF && length > this.#limits.maxPduLength) return 'pdu-too-large';
    if (FIXED_LENGTH_PDUS.has(type) && length !== 4) return 'bad-pdu-length';
    if (type !== P_DATA_TF && length > MAX_ASSOCIATE_RQ_LENGTH) return 'pdu-too-large';
    return undefined;
  }

  /** Before the A-ASSOCIATE-RQ only it (or an A-ABORT) may come; after it, never a second one. */
  #sequenceViolation(type: number): Violation | undefined {
    if (!this.#associated) return type === A_ASSOCIATE_RQ || type === A_ABORT ? undefined : 'unexpected-pdu';
    return ASSOCIATED_PDUS.has(type) ? undefined : 'unexpected-pdu';
  }

  #violate(violation: Violation): void {
    this.#halted = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.emit('violation', violation);
    if (this.#phase === 'awaiting-request' && violation === 'artim-timeout') this.socket.destroy();
    else this.abort(violation === 'unknown-pdu-type' ? 1 : violation.endsWith('timeout') ? 0 : 6);
  }

  #peek(bytes: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= bytes) return first;
    const head: Buffer[] = [];
    let length = 0;
    for (const chunk of this.#chunks) {
      if (length >= bytes) break;
      head.push(chunk);
      length += chunk.length;
    }
    return Buffer.concat(head).subarray(0, bytes);
  }

  /** Removes `bytes` from the front; copies only when the PDU spans socket chunks. */
  #take(bytes: number): Buffer {
    const first = this.#chunks[0]!;
    this.#buffered -= bytes;
    if (first.length > bytes) {
      this.#chunks[0] = first.subarray(bytes);
      return first.subarray(0, bytes);
    }
    if (first.length === bytes) {
      this.#chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(bytes);
    let filled = 0;
    while (filled < bytes) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length, bytes - filled);
      chunk.copy(out, filled, 0, take);
      filled += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    return out;
  }

  /** Up to `bytes` from the front, never copied: a slice of the first chunk. */
  #takeUpTo(bytes: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length <= bytes) {
      this.#chunks.shift();
      this.#buffered -= first.length;
      return first;
    }
    this.#chunks[0] = first.subarray(bytes);
    this.#buffered -= bytes;
    return first.subarray(0, bytes);
  }

  #checkTimers(): void {
    if (this.#closed) return;
    const quiet = Date.now() - this.#lastProgress;
    switch (this.#phase) {
      case 'awaiting-request':
        // PS3.8 9.1.5: ARTIM runs from the transport connection to the A-ASSOCIATE-RQ, whatever arrives meanwhile.
        if (Date.now() - this.#connectedAt >= this.#limits.artimTimeoutMs) this.#violate('artim-timeout');
        return;
      case 'idle':
        if (quiet >= this.#limits.idleTimeoutMs) this.#violate('idle-timeout');
        return;
      case 'receiving':
        if (this.#pauses > 0) this.#lastProgress = Date.now();
        else if (quiet >= this.#limits.stallTimeoutMs) this.#violate('stall-timeout');
        return;
      case 'storing':
        return;
      default: {
        const unreachable: never = this.#phase;
        throw new Error(`unexpected phase ${String(unreachable)}`);
      }
    }
  }
}
