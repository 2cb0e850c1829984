// A DICOM upper-layer client written byte by byte, for what real SCUs refuse to send:
// command/data-set mismatches, forged PDU lengths, truncated or slow transfers.
import net from 'node:net';

export const PduType = { AssociateRq: 1, AssociateAc: 2, AssociateRj: 3, PData: 4, ReleaseRq: 5, ReleaseRp: 6, Abort: 7 } as const;

export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface AssociateOptions {
  calling?: string;
  called?: string;
  contexts: ProposedContext[];
  maxPduLength?: number;
}

export interface AssociateResult {
  accepted: boolean;
  /** Per context ID: result (0 accept, 1 user reject, 2 no reason, 3 abstract syntax, 4 transfer syntaxes) and the TS. */
  contexts: Map<number, { result: number; transferSyntax: string }>;
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersion: string;
  /** Whether the AC carried an asynchronous operations window item (0x53). */
  asyncOpsItem: boolean;
  reject?: { result: number; source: number; reason: number };
}

export interface Pdu {
  type: number;
  body: Buffer;
}

function pad(value: string, pad: number): Buffer {
  const bytes = Buffer.from(value, 'ascii');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.of(pad)]);
}

function aeField(title: string): Buffer {
  return Buffer.from(title.padEnd(16, ' ').slice(0, 16), 'ascii');
}

function item(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt8(type, 0);
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

export function pdu(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(6);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 2);
  return Buffer.concat([header, body]);
}

export function associateRq(options: AssociateOptions): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0);
  aeField(options.called ?? 'DICOMS3').copy(fixed, 4);
  aeField(options.calling ?? 'RAWSCU').copy(fixed, 20);
  const contexts = options.contexts.map((context) =>
    item(0x20, Buffer.concat([
      Buffer.of(context.id, 0, 0, 0),
      item(0x30, Buffer.from(context.abstractSyntax, 'ascii')),
      ...context.transferSyntaxes.map((ts) => item(0x40, Buffer.from(ts, 'ascii'))),
    ])));
  const maxLength = Buffer.alloc(4);
  maxLength.writeUInt32BE(options.maxPduLength ?? 16384, 0);
  const userInfo = item(0x50, Buffer.concat([
    item(0x51, maxLength),
    item(0x52, Buffer.from('1.2.3.4.5', 'ascii')),
    item(0x55, Buffer.from('RAWSCU', 'ascii')),
  ]));
  return pdu(PduType.AssociateRq, Buffer.concat([fixed, item(0x10, Buffer.from('1.2.840.10008.3.1.1.1', 'ascii')), ...contexts, userInfo]));
}

function element(group: number, elementNumber: number, value: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(group, 0);
  header.writeUInt16LE(elementNumber, 2);
  header.writeUInt32LE(value.length, 4);
  return Buffer.concat([header, value]);
}

function us(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16LE(value, 0);
  return bytes;
}

/** A command set in implicit VR little endian, as PS3.7 requires. */
export function commandSet(fields: { sopClassUid: string; commandField: number; messageId: number; sopInstanceUid?: string; hasDataSet: boolean }): Buffer {
  const body = Buffer.concat([
    element(0x0000, 0x0002, pad(fields.sopClassUid, 0)),
    element(0x0000, 0x0100, us(fields.commandField)),
    element(0x0000, 0x0110, us(fields.messageId)),
    ...(fields.commandField === 0x0001 ? [element(0x0000, 0x0700, us(0))] : []),
    element(0x0000, 0x0800, us(fields.hasDataSet ? 0x0000 : 0x0101)),
    ...(fields.sopInstanceUid ? [element(0x0000, 0x1000, pad(fields.sopInstanceUid, 0))] : []),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length, 0);
  return Buffer.concat([element(0x0000, 0x0000, length), body]);
}

/** One P-DATA-TF holding one PDV. */
export function pdata(contextId: number, command: boolean, last: boolean, value: Buffer): Buffer {
  const header = Buffer.alloc(6);
  header.writeUInt32BE(value.length + 2, 0);
  header.writeUInt8(contextId, 4);
  header.writeUInt8((command ? 1 : 0) | (last ? 2 : 0), 5);
  return pdu(PduType.PData, Buffer.concat([header, value]));
}

/** Reads (0000,0900) Status and (0000,0902) Error Comment from a response command set. */
export function parseResponse(command: Buffer): { status: number; comment: string | undefined; commandField: number } {
  let offset = 0;
  let status = -1;
  let comment: string | undefined;
  let commandField = -1;
  while (offset + 8 <= command.length) {
    const group = command.readUInt16LE(offset);
    const elementNumber = command.readUInt16LE(offset + 2);
    const length = command.readUInt32LE(offset + 4);
    const value = command.subarray(offset + 8, offset + 8 + length);
    if (group === 0 && elementNumber === 0x0900) status = value.readUInt16LE(0);
    if (group === 0 && elementNumber === 0x0902) comment = value.toString('ascii').replace(/[\0 ]+$/, '');
    if (group === 0 && elementNumber === 0x0100) commandField = value.readUInt16LE(0);
    offset += 8 + length;
  }
  return { status, comment, commandField };
}

export class RawScu {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  #buffer = Buffer.alloc(0);
  #waiters: ((pdu: Pdu | undefined) => void)[] = [];
  #pdus: Pdu[] = [];
  #ended = false;
  #messageId = 1;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => {
      this.#ended = true;
      for (const waiter of this.#waiters.splice(0)) waiter(undefined);
      resolve();
    }));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawScu> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host }, () => resolve(new RawScu(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#ended;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  #receive(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 6) {
      const length = this.#buffer.readUInt32BE(2);
      if (this.#buffer.length < 6 + length) return;
      const next = { type: this.#buffer[0]!, body: this.#buffer.subarray(6, 6 + length) };
      this.#buffer = this.#buffer.subarray(6 + length);
      const waiter = this.#waiters.shift();
      if (waiter) waiter(next);
      else this.#pdus.push(next);
    }
  }

  /** The next PDU, or undefined when the peer closed first. */
  readPdu(timeoutMs = 10_000): Promise<Pdu | undefined> {
    const queued = this.#pdus.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no PDU within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (next: Pdu | undefined) => {
        clearTimeout(timer);
        resolve(next);
      };
      this.#waiters.push(waiter);
    });
  }

  async associate(options: AssociateOptions): Promise<AssociateResult> {
    this.send(associateRq(options));
    const answer = await this.readPdu();
    if (!answer) throw new Error('connection closed during association');
    const result: AssociateResult = { accepted: false, contexts: new Map(), maxPduLength: 0, implementationClassUid: '', implementationVersion: '', asyncOpsItem: false };
    if (answer.type === PduType.AssociateRj) {
      result.reject = { result: answer.body[1]!, source: answer.body[2]!, reason: answer.body[3]! };
      return result;
    }
    if (answer.type !== PduType.AssociateAc) throw new Error(`unexpected PDU type ${answer.type}`);
    result.accepted = true;
    let offset = 68;
    const body = answer.body;
    while (offset + 4 <= body.length) {
      const type = body[offset]!;
      const length = body.readUInt16BE(offset + 2);
      const value = body.subarray(offset + 4, offset + 4 + length);
      if (type === 0x21) {
        const tsLength = value.length >= 8 ? value.readUInt16BE(6) : 0;
        result.contexts.set(value[0]!, { result: value[2]!, transferSyntax: value.subarray(8, 8 + tsLength).toString('ascii') });
      } else if (type === 0x50) {
        let sub = 0;
        while (sub + 4 <= value.length) {
          const subType = value[sub]!;
          const subLength = value.readUInt16BE(sub + 2);
          const subValue = value.subarray(sub + 4, sub + 4 + subLength);
          if (subType === 0x51) result.maxPduLength = subValue.readUInt32BE(0);
          if (subType === 0x52) result.implementationClassUid = subValue.toString('ascii');
          if (subType === 0x55) result.implementationVersion = subValue.toString('ascii');
          if (subType === 0x53) result.asyncOpsItem = true;
          sub += 4 + subLength;
        }
      }
      offset += 4 + length;
    }
    return result;
  }

  nextMessageId(): number {
    return this.#messageId++;
  }

  /** Reads PDUs until a whole response command set has arrived. */
  async readResponse(timeoutMs = 30_000): Promise<{ status: number; comment: string | undefined; commandField: number } | undefined> {
    let command = Buffer.alloc(0);
    for (;;) {
      const next = await this.readPdu(timeoutMs);
      if (!next) return undefined;
      if (next.type !== PduType.PData) return undefined;
      let offset = 0;
      let last = false;
      while (offset + 6 <= next.body.length) {
        const length = next.body.readUInt32BE(offset);
        const control = next.body[offset + 5]!;
        command = Buffer.concat([command, next.body.subarray(offset + 6, offset + 4 + length)]);
        last = (control & 2) !== 0;
        offset += 4 + length;
      }
      if (last) return parseResponse(command);
    }
  }

  /** Sends a C-STORE whose command and data set the test chooses freely. */
  async cStore(options: { contextId: number; sopClassUid: string; sopInstanceUid: string; dataSet: Buffer; fragmentSize?: number }): Promise<{ status: number; comment: string | undefined } | undefined> {
    const messageId = this.nextMessageId();
    this.send(pdata(options.contextId, true, true, commandSet({ sopClassUid: options.sopClassUid, commandField: 0x0001, messageId, sopInstanceUid: options.sopInstanceUid, hasDataSet: true })));
    const fragment = options.fragmentSize ?? 16_000;
    for (let offset = 0; offset < options.dataSet.length || offset === 0; offset += fragment) {
      const end = Math.min(offset + fragment, options.dataSet.length);
      this.send(pdata(options.contextId, false, end >= options.dataSet.length, options.dataSet.subarray(offset, end)));
      if (end >= options.dataSet.length) break;
    }
    return this.readResponse();
  }

  /** Starts a C-STORE and sends only `bytes` of its data set, never the last fragment: a transfer cut short. */
  sendPartialInstance(options: { contextId: number; sopClassUid: string; sopInstanceUid: string; dataSet: Buffer; bytes: number; fragmentSize?: number }): void {
    const messageId = this.nextMessageId();
    this.send(pdata(options.contextId, true, true, commandSet({ sopClassUid: options.sopClassUid, commandField: 0x0001, messageId, sopInstanceUid: options.sopInstanceUid, hasDataSet: true })));
    const fragment = options.fragmentSize ?? 16_000;
    for (let offset = 0; offset < options.bytes; offset += fragment) {
      this.send(pdata(options.contextId, false, false, options.dataSet.subarray(offset, Math.min(offset + fragment, options.bytes))));
    }
  }

  async release(): Promise<boolean> {
    this.send(pdu(PduType.ReleaseRq, Buffer.alloc(4)));
    const answer = await this.readPdu().catch(() => undefined);
    this.socket.end();
    return answer?.type === PduType.ReleaseRp;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
