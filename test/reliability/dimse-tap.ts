// A TCP proxy between a DICOM sender and the listener that reads, without changing a byte,
// the C-STORE requests going one way and the C-STORE responses coming back. Senders such
// as Orthanc report only counts; the tap gives the invariant checker the exact status each
// SOP Instance UID was answered with (or that it was never answered).
import net from 'node:net';

export interface TappedStore {
  sopInstanceUid: string;
  /** DIMSE status of the C-STORE-RSP, or null while unanswered. */
  status: number | null;
}

export interface DimseTap {
  port: number;
  /** Every C-STORE seen, in request order; a resend of the same UID gets a new entry. */
  stores(): TappedStore[];
  /** The last answer per SOP Instance UID. */
  lastStatus(): Map<string, number | null>;
  close(): Promise<void>;
}

/** Elements of an implicit VR little endian command set (group 0000). */
function parseCommand(command: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 8 <= command.length) {
    const tag = (command.readUInt16LE(off) << 16) | command.readUInt16LE(off + 2);
    const length = command.readUInt32LE(off + 4);
    out.set(tag >>> 0, command.subarray(off + 8, off + 8 + length));
    off += 8 + length;
  }
  return out;
}

const uid = (v: Buffer | undefined) => (v ? v.toString('latin1').replace(/[\0 ]+$/, '') : '');

/** Reassembles command PDVs from one direction of the byte stream. */
class CommandReader {
  #buffer: Buffer = Buffer.alloc(0);
  #command: Buffer[] = [];
  readonly #onCommand: (elements: Map<number, Buffer>) => void;

  constructor(onCommand: (elements: Map<number, Buffer>) => void) {
    this.#onCommand = onCommand;
  }

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    while (this.#buffer.length >= 6) {
      const length = this.#buffer.readUInt32BE(2);
      if (this.#buffer.length < 6 + length) return;
      const type = this.#buffer[0];
      const body = this.#buffer.subarray(6, 6 + length);
      this.#buffer = this.#buffer.subarray(6 + length);
      if (type === 0x04) this.#pdata(body);
    }
  }

  #pdata(body: Buffer): void {
    let off = 0;
    while (off + 6 <= body.length) {
      const length = body.readUInt32BE(off);
      const control = body[off + 5]!;
      if (control & 1) {
        this.#command.push(body.subarray(off + 6, off + 4 + length));
        if (control & 2) {
          this.#onCommand(parseCommand(Buffer.concat(this.#command)));
          this.#command = [];
        }
      }
      off += 4 + length;
    }
  }
}

const COMMAND_FIELD = 0x00000100;
const AFFECTED_SOP_INSTANCE = 0x00001000;
const STATUS = 0x00000900;

export async function startDimseTap(targetPort: number): Promise<DimseTap> {
  const stores: TappedStore[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    // Per association: requests waiting for their response, by SOP Instance UID.
    const pending: TappedStore[] = [];
    const requests = new CommandReader((c) => {
      if (c.get(COMMAND_FIELD)?.readUInt16LE(0) !== 0x0001) return;
      const entry = { sopInstanceUid: uid(c.get(AFFECTED_SOP_INSTANCE)), status: null };
      stores.push(entry);
      pending.push(entry);
    });
    const responses = new CommandReader((c) => {
      if (c.get(COMMAND_FIELD)?.readUInt16LE(0) !== 0x8001) return;
      const sop = uid(c.get(AFFECTED_SOP_INSTANCE));
      const i = pending.findIndex((p) => p.sopInstanceUid === sop);
      const entry = i >= 0 ? pending.splice(i, 1)[0]! : { sopInstanceUid: sop, status: null };
      if (i < 0) stores.push(entry);
      entry.status = c.get(STATUS)?.readUInt16LE(0) ?? null;
    });
    client.on('data', (chunk: Buffer) => {
      requests.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      responses.push(chunk);
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stores: () => stores.map((s) => ({ ...s })),
    lastStatus: () => new Map(stores.map((s) => [s.sopInstanceUid, s.status])),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
