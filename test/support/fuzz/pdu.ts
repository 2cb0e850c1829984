// Structured DICOM upper-layer PDUs (PS3.8 9.3) and DIMSE command sets (PS3.7 E), kept as
// trees so the mutator can change one field (a length, a type, an ID, a UID) and still
// encode everything else correctly. Every length is computed at encode time unless a node
// carries an explicit override: that is how forged lengths are made.

/** A variable item: type, reserved byte, 16-bit length, then a body or sub-items. */
export interface ItemNode {
  type: number;
  reserved?: number;
  /** Forged 16-bit length; default the real body length. */
  length?: number;
  /** Fixed bytes before the children (e.g. a presentation context's ID and reserved bytes). */
  prefix?: Buffer;
  body?: Buffer;
  children?: ItemNode[];
}

export interface AssociateRqModel {
  pduType: number;
  /** Forged 32-bit PDU length. */
  length?: number;
  protocolVersion: number;
  called: string;
  calling: string;
  /** The 32 reserved bytes of the fixed part. */
  reserved: Buffer;
  items: ItemNode[];
}

export interface PdvModel {
  /** Forged 32-bit PDV item length. */
  length?: number;
  contextId: number;
  /** Bit 0 command, bit 1 last fragment. */
  control: number;
  value: Buffer;
}

export interface PDataModel {
  pduType: number;
  length?: number;
  pdvs: PdvModel[];
}

/** One element of an implicit VR little endian command set. */
export interface CommandElement {
  group: number;
  element: number;
  value: Buffer;
  /** Forged 32-bit value length. */
  length?: number;
}

export const UID = {
  applicationContext: '1.2.840.10008.3.1.1.1',
  verification: '1.2.840.10008.1.1',
  secondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  ct: '1.2.840.10008.5.1.4.1.1.2',
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
} as const;

export function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** Even-length UID value padded with NUL, as PS3.5 wants. */
export function uidValue(s: string): Buffer {
  const b = ascii(s);
  return b.length % 2 ? Buffer.concat([b, Buffer.of(0)]) : b;
}

export function encodeItem(node: ItemNode): Buffer {
  const inner = node.children
    ? Buffer.concat([node.prefix ?? Buffer.alloc(0), ...node.children.map(encodeItem)])
    : Buffer.concat([node.prefix ?? Buffer.alloc(0), node.body ?? Buffer.alloc(0)]);
  const header = Buffer.alloc(4);
  header[0] = node.type & 0xff;
  header[1] = (node.reserved ?? 0) & 0xff;
  header.writeUInt16BE((node.length ?? inner.length) & 0xffff, 2);
  return Buffer.concat([header, inner]);
}

function pduHeader(type: number, length: number): Buffer {
  const h = Buffer.alloc(6);
  h[0] = type & 0xff;
  h.writeUInt32BE(length >>> 0, 2);
  return h;
}

function aeField(title: string): Buffer {
  const b = Buffer.alloc(16, 0x20);
  ascii(title).copy(b, 0, 0, 16);
  return b;
}

export function encodeAssociateRq(m: AssociateRqModel): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(m.protocolVersion & 0xffff, 0);
  aeField(m.called).copy(fixed, 4);
  aeField(m.calling).copy(fixed, 20);
  m.reserved.copy(fixed, 36, 0, 32);
  const body = Buffer.concat([fixed, ...m.items.map(encodeItem)]);
  return Buffer.concat([pduHeader(m.pduType, m.length ?? body.length), body]);
}

export function encodePData(m: PDataModel): Buffer {
  const pdvs = m.pdvs.map((p) => {
    const h = Buffer.alloc(6);
    h.writeUInt32BE((p.length ?? p.value.length + 2) >>> 0, 0);
    h[4] = p.contextId & 0xff;
    h[5] = p.control & 0xff;
    return Buffer.concat([h, p.value]);
  });
  const body = Buffer.concat(pdvs);
  return Buffer.concat([pduHeader(m.pduType, m.length ?? body.length), body]);
}

/** A-RELEASE-RQ (5), A-RELEASE-RP (6) or A-ABORT (7): 4-byte bodies. */
export function encodeControl(type: number, body: Buffer = Buffer.alloc(4), length?: number): Buffer {
  return Buffer.concat([pduHeader(type, length ?? body.length), body]);
}

export function encodeCommand(elements: CommandElement[]): Buffer {
  const parts = elements.map((e) => {
    const h = Buffer.alloc(8);
    h.writeUInt16LE(e.group & 0xffff, 0);
    h.writeUInt16LE(e.element & 0xffff, 2);
    h.writeUInt32LE((e.length ?? e.value.length) >>> 0, 4);
    return Buffer.concat([h, e.value]);
  });
  return Buffer.concat(parts);
}

export interface ContextProposal {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export function presentationContextItem(pc: ContextProposal): ItemNode {
  return {
    type: 0x20,
    prefix: Buffer.of(pc.id & 0xff, 0, 0, 0),
    children: [{ type: 0x30, body: ascii(pc.abstractSyntax) }, ...pc.transferSyntaxes.map((ts) => ({ type: 0x40, body: ascii(ts) }))],
  };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A valid A-ASSOCIATE-RQ as a tree. */
export function associateRqModel(o: { calling: string; called?: string; contexts: ContextProposal[]; maxPduLength?: number }): AssociateRqModel {
  return {
    pduType: 0x01,
    protocolVersion: 1,
    called: o.called ?? 'DICOMS3',
    calling: o.calling,
    reserved: Buffer.alloc(32),
    items: [
      { type: 0x10, body: ascii(UID.applicationContext) },
      ...o.contexts.map(presentationContextItem),
      {
        type: 0x50,
        children: [
          { type: 0x51, body: u32(o.maxPduLength ?? 16384) },
          { type: 0x52, body: ascii('1.2.826.0.1.3680043.10.1147') },
          { type: 0x55, body: ascii('FUZZER_1') },
        ],
      },
    ],
  };
}

/** The command set of a C-STORE-RQ, C-ECHO-RQ or any other request, as elements with the group length first. */
export function commandElements(o: { sopClassUid: string; commandField: number; messageId: number; sopInstanceUid?: string; hasDataSet: boolean }): CommandElement[] {
  const us = (n: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n & 0xffff);
    return b;
  };
  const rest: CommandElement[] = [
    { group: 0, element: 0x0002, value: uidValue(o.sopClassUid) },
    { group: 0, element: 0x0100, value: us(o.commandField) },
    { group: 0, element: 0x0110, value: us(o.messageId) },
    ...(o.commandField === 0x0001 ? [{ group: 0, element: 0x0700, value: us(0) }] : []),
    { group: 0, element: 0x0800, value: us(o.hasDataSet ? 0x0000 : 0x0101) },
    ...(o.sopInstanceUid !== undefined ? [{ group: 0, element: 0x1000, value: uidValue(o.sopInstanceUid) }] : []),
  ];
  const length = encodeCommand(rest).length;
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(length);
  return [{ group: 0, element: 0x0000, value: gl }, ...rest];
}

/** Offsets of the element headers of an explicit VR little endian data set (top level only). */
export function explicitElementOffsets(ds: Buffer): { offset: number; long: boolean }[] {
  const long = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT']);
  const out: { offset: number; long: boolean }[] = [];
  let off = 0;
  while (off + 8 <= ds.length) {
    const vr = ds.toString('latin1', off + 4, off + 6);
    const isLong = long.has(vr);
    const length = isLong ? (off + 12 <= ds.length ? ds.readUInt32LE(off + 8) : 0) : ds.readUInt16LE(off + 6);
    out.push({ offset: off, long: isLong });
    if (length === 0xffffffff) break;
    off += (isLong ? 12 : 8) + length;
  }
  return out;
}
