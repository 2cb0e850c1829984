// A structure-aware, seeded mutator for the DICOM upper layer. A case starts from a valid
// conversation (A-ASSOCIATE-RQ, C-ECHO and C-STORE commands with data set PDVs, A-RELEASE)
// kept as PDU trees, applies one to four mutations at the level where they mean something
// (an item length, a presentation-context ID, a PDV control byte, a command element, a data
// set element length, the order of PDUs), encodes it, and may then cut, flip or trickle the
// bytes. Some cases are raw random bytes, or a PDU header with a forged length and noise.
//
// generateCase(seed, index) is pure: a case is regenerated exactly from the run's seed and
// its index, which is all a report needs to name.
import { buildInstance, dataSetOffset } from '../dicom-file.ts';
import {
  associateRqModel,
  commandElements,
  encodeAssociateRq,
  encodeCommand,
  encodeControl,
  encodePData,
  explicitElementOffsets,
  uidValue,
  UID,
  ascii,
  presentationContextItem,
  type AssociateRqModel,
  type CommandElement,
  type ItemNode,
  type PDataModel,
} from './pdu.ts';
import { caseSeed, rng, type Rng } from './rng.ts';

export interface FuzzStep {
  bytes: Buffer;
  /** Wait this long before sending these bytes. */
  delayMs: number;
}

export interface FuzzCase {
  seed: number;
  index: number;
  kind: string;
  /** What was done to the valid conversation, in order. */
  mutations: string[];
  /** The calling AE the case uses when its A-ASSOCIATE-RQ is intact: F<index>, to find it in the listener's log. */
  callingAe: string;
  steps: FuzzStep[];
}

type Entry =
  | { t: 'rq'; m: AssociateRqModel }
  | { t: 'pdata'; m: PDataModel; msg: number; role: 'command' | 'data'; command?: CommandElement[] }
  | { t: 'control'; type: number; body: Buffer; length?: number }
  | { t: 'raw'; bytes: Buffer };

const BAD_UIDS = [
  '',
  '1',
  '1..2',
  '1.2.',
  '.1.2',
  '01.02.03',
  'abc.def',
  '1.2.840.10008.1.2\0\0',
  `1.2.${'9'.repeat(70)}`,
  `1.${'2.'.repeat(300)}3`,
  '1.2.840.10008.5.1.4.1.1.7\\1.2.3',
  '\u00ff\u00fe\u0001\u0002',
  '1.2.840.10008.1.2.4.50 ',
  ' '.repeat(64),
];

const BAD_AES = ['', '                ', 'A\\B', '\u0000\u0000\u0000', 'ÄÖÜ\u00ffTITLE', 'X'.repeat(16), '\t\r\n', 'DICOMS3\u0000'];

const PDU_LENGTHS = (real: number) => [0, 1, 3, real - 1, real + 1, real + 1000, 0x7fffffff, 0xffffffff, 256 * 1024 + 1, 131072 + 1];
const ITEM_LENGTHS = (real: number) => [0, 1, 2, Math.max(0, real - 1), real + 1, real + 16, 0xffff, 0x8000];

/** Every node of an item tree (depth first), with its parent's child list. */
function nodes(items: ItemNode[]): { node: ItemNode; siblings: ItemNode[] }[] {
  const out: { node: ItemNode; siblings: ItemNode[] }[] = [];
  const walk = (list: ItemNode[]) => {
    for (const node of list) {
      out.push({ node, siblings: list });
      if (node.children) walk(node.children);
    }
  };
  walk(items);
  return out;
}

function innerLength(node: ItemNode): number {
  const prefix = node.prefix?.length ?? 0;
  if (node.children) return prefix + node.children.reduce((s, c) => s + 4 + innerLength(c), 0);
  return prefix + (node.body?.length ?? 0);
}

/** Deep copy that keeps Buffers Buffers (structuredClone turns them into plain Uint8Arrays). */
function clone<T>(x: T): T {
  if (Buffer.isBuffer(x)) return Buffer.from(x) as T;
  if (Array.isArray(x)) return x.map(clone) as T;
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, clone(v)])) as T;
  return x;
}

function us(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n & 0xffff);
  return b;
}

/** A deterministic UID under 2.25 from the case's random source. */
function uidFrom(r: Rng): string {
  let digits = String(r.range(1, 9));
  for (let i = 0; i < 30; i++) digits += String(r.int(10));
  return `2.25.${digits}`;
}

interface Instance {
  sopClassUid: string;
  sopInstanceUid: string;
  dataSet: Buffer;
}

function smallInstance(r: Rng, sopClassUid: string): Instance {
  const sopInstanceUid = uidFrom(r);
  const size = r.pick([8, 16, 32, 64]);
  const { bytes } = buildInstance({
    sopClassUid,
    studyInstanceUid: uidFrom(r),
    seriesInstanceUid: uidFrom(r),
    sopInstanceUid,
    rows: size,
    columns: size,
    bitsAllocated: sopClassUid === UID.ct ? 16 : 8,
    seed: r.range(1, 1 << 20),
  });
  return { sopClassUid, sopInstanceUid, dataSet: bytes.subarray(dataSetOffset(bytes)) };
}

// ---------------------------------------------------------------------------
// The valid conversation

const CONTEXTS = [
  { id: 1, abstractSyntax: UID.verification, transferSyntaxes: [UID.implicitLE] },
  { id: 3, abstractSyntax: UID.secondaryCapture, transferSyntaxes: [UID.explicitLE, UID.implicitLE] },
  { id: 5, abstractSyntax: UID.ct, transferSyntaxes: [UID.explicitLE] },
  // Refused by the listener (unknown abstract syntax): PDVs on it are interesting.
  { id: 7, abstractSyntax: '1.2.3.4.5.6.7.8.9', transferSyntaxes: [UID.explicitLE] },
];

function conversation(r: Rng, callingAe: string): Entry[] {
  const entries: Entry[] = [{ t: 'rq', m: associateRqModel({ calling: callingAe, contexts: CONTEXTS.map((c) => ({ ...c, transferSyntaxes: [...c.transferSyntaxes] })) }) }];
  const messages = r.range(1, 3);
  for (let msg = 0; msg < messages; msg++) {
    const op = r.weighted([[2, 'echo'], [5, 'store-sc'], [2, 'store-ct']] as const);
    if (op === 'echo') {
      const command = commandElements({ sopClassUid: UID.verification, commandField: 0x0030, messageId: msg + 1, hasDataSet: false });
      entries.push({ t: 'pdata', msg, role: 'command', command, m: { pduType: 4, pdvs: [{ contextId: 1, control: 3, value: encodeCommand(command) }] } });
      continue;
    }
    const ct = op === 'store-ct';
    const instance = smallInstance(r, ct ? UID.ct : UID.secondaryCapture);
    const contextId = ct ? 5 : 3;
    const command = commandElements({ sopClassUid: instance.sopClassUid, commandField: 0x0001, messageId: msg + 1, sopInstanceUid: instance.sopInstanceUid, hasDataSet: true });
    entries.push({ t: 'pdata', msg, role: 'command', command, m: { pduType: 4, pdvs: [{ contextId, control: 3, value: encodeCommand(command) }] } });
    const fragments = r.range(1, 4);
    const size = Math.ceil(instance.dataSet.length / fragments);
    for (let f = 0; f < fragments; f++) {
      const value = instance.dataSet.subarray(f * size, Math.min(instance.dataSet.length, (f + 1) * size));
      entries.push({ t: 'pdata', msg, role: 'data', m: { pduType: 4, pdvs: [{ contextId, control: f === fragments - 1 ? 2 : 0, value }] } });
    }
  }
  if (r.chance(0.85)) entries.push({ t: 'control', type: 5, body: Buffer.alloc(4) });
  return entries;
}

// ---------------------------------------------------------------------------
// Mutations

type Mutation = (r: Rng, entries: Entry[]) => string | undefined;

const rqOf = (entries: Entry[]) => entries.find((e): e is Extract<Entry, { t: 'rq' }> => e.t === 'rq')?.m;
const pdatas = (entries: Entry[]) => entries.filter((e): e is Extract<Entry, { t: 'pdata' }> => e.t === 'pdata');

const MUTATIONS: Record<string, readonly [number, Mutation]> = {
  'rq-item-length': [5, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const { node } = r.pick(nodes(rq.items));
    node.length = r.pick(ITEM_LENGTHS(innerLength(node)));
    return `item 0x${node.type.toString(16)} length ${node.length}`;
  }],
  'rq-item-type': [3, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const { node } = r.pick(nodes(rq.items));
    const from = node.type;
    node.type = r.chance(0.5) ? r.int(256) : r.pick([0x10, 0x20, 0x21, 0x30, 0x40, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x58, 0x59]);
    return `item 0x${from.toString(16)} -> type 0x${node.type.toString(16)}`;
  }],
  'rq-item-drop': [2, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const { node, siblings } = r.pick(nodes(rq.items));
    siblings.splice(siblings.indexOf(node), 1);
    return `drop item 0x${node.type.toString(16)}`;
  }],
  'rq-item-dup': [2, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const { node, siblings } = r.pick(nodes(rq.items));
    const times = r.pick([1, 2, 50]);
    for (let i = 0; i < times; i++) siblings.splice(siblings.indexOf(node), 0, clone(node));
    return `duplicate item 0x${node.type.toString(16)} x${times}`;
  }],
  'rq-bad-uid': [4, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const uidNodes = nodes(rq.items).filter(({ node }) => [0x10, 0x30, 0x40, 0x52].includes(node.type));
    if (uidNodes.length === 0) return undefined;
    const { node } = r.pick(uidNodes);
    const bad = r.pick(BAD_UIDS);
    node.body = ascii(bad);
    return `item 0x${node.type.toString(16)} UID ${JSON.stringify(bad.slice(0, 24))}`;
  }],
  'rq-pc-id': [4, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const pcs = rq.items.filter((i) => i.type === 0x20 && i.prefix);
    if (pcs.length === 0) return undefined;
    const pc = r.pick(pcs);
    const id = r.pick([0, 2, 4, 255, 254, 1, 3, r.int(256)]);
    pc.prefix = Buffer.of(id, r.chance(0.2) ? r.int(256) : 0, r.chance(0.2) ? r.int(256) : 0, 0);
    return `presentation context id ${id}`;
  }],
  'rq-many-contexts': [2, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const n = r.pick([127, 128, 129, 200]);
    const at = rq.items.findIndex((i) => i.type === 0x50);
    const extra = Array.from({ length: n }, (_, k) => presentationContextItem({ id: (2 * k + 9) & 0xff, abstractSyntax: r.pick([UID.secondaryCapture, UID.ct, uidFrom(r)]), transferSyntaxes: [UID.explicitLE, UID.deflated, UID.jpegBaseline] }));
    rq.items.splice(at < 0 ? rq.items.length : at, 0, ...extra);
    return `${n} extra presentation contexts`;
  }],
  'rq-many-ts': [1, (r, e) => {
    const rq = rqOf(e);
    const pc = rq?.items.find((i) => i.type === 0x20 && i.children);
    if (!pc?.children) return undefined;
    const n = r.pick([64, 500]);
    for (let i = 0; i < n; i++) pc.children.push({ type: 0x40, body: ascii(r.chance(0.5) ? uidFrom(r) : UID.explicitLE) });
    return `${n} extra transfer syntaxes`;
  }],
  'rq-pdu-length': [4, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const real = encodeAssociateRq(rq).length - 6;
    rq.length = r.pick(PDU_LENGTHS(real));
    return `A-ASSOCIATE-RQ length ${rq.length} (real ${real})`;
  }],
  'rq-version': [1, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    rq.protocolVersion = r.pick([0, 2, 0x8001, 0xffff]);
    return `protocol version ${rq.protocolVersion}`;
  }],
  'rq-ae-title': [2, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const bad = r.pick(BAD_AES);
    if (r.chance(0.5)) rq.called = bad;
    else rq.calling = bad;
    return `AE title ${JSON.stringify(bad)}`;
  }],
  'rq-reserved': [1, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    rq.reserved = r.bytes(32);
    return 'reserved bytes set';
  }],
  'rq-max-length': [3, (r, e) => {
    const rq = rqOf(e);
    const item = rq && nodes(rq.items).find(({ node }) => node.type === 0x51)?.node;
    if (!item) return undefined;
    const v = r.pick([0, 1, 6, 7, 100, 0xffffffff, 0x7fffffff]);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    item.body = r.chance(0.2) ? b.subarray(0, r.int(4)) : b;
    return `maximum length ${v} (${item.body.length} bytes)`;
  }],
  'rq-user-items': [2, (r, e) => {
    const rq = rqOf(e);
    const ui = rq?.items.find((i) => i.type === 0x50);
    if (!ui?.children) return undefined;
    const type = r.pick([0x53, 0x54, 0x56, 0x57, 0x58, 0x59, 0x5a, 0xff]);
    ui.children.push({ type, body: r.chance(0.5) ? r.bytes(r.int(40)) : Buffer.alloc(0) });
    return `user item 0x${type.toString(16)}`;
  }],
  'rq-truncate-body': [2, (r, e) => {
    const rq = rqOf(e);
    if (!rq) return undefined;
    const leaves = nodes(rq.items).filter(({ node }) => node.body && node.body.length > 0);
    if (leaves.length === 0) return undefined;
    const { node } = r.pick(leaves);
    node.body = node.body!.subarray(0, r.int(node.body!.length));
    return `truncate item 0x${node.type.toString(16)} body to ${node.body.length}`;
  }],
  'pdv-length': [5, (r, e) => {
    const all = pdatas(e);
    if (all.length === 0) return undefined;
    const p = r.pick(all).m.pdvs[0];
    if (!p) return undefined;
    const real = p.value.length + 2;
    p.length = r.pick([0, 1, 2, real - 1, real + 1, real + 100, 0xffffffff, 0x7fffffff]);
    return `PDV length ${p.length} (real ${real})`;
  }],
  'pdv-context': [4, (r, e) => {
    const all = pdatas(e);
    if (all.length === 0) return undefined;
    const p = r.pick(all).m.pdvs[0];
    if (!p) return undefined;
    p.contextId = r.pick([0, 2, 9, 255, 7, 1, 3, 5]);
    return `PDV on context ${p.contextId}`;
  }],
  'pdv-control': [4, (r, e) => {
    const all = pdatas(e);
    if (all.length === 0) return undefined;
    const p = r.pick(all).m.pdvs[0];
    if (!p) return undefined;
    p.control = r.chance(0.5) ? p.control ^ r.pick([1, 2, 3]) : r.int(256);
    return `PDV control 0x${p.control.toString(16)}`;
  }],
  'pdata-length': [3, (r, e) => {
    const all = pdatas(e);
    if (all.length === 0) return undefined;
    const m = r.pick(all).m;
    const real = encodePData(m).length - 6;
    m.length = r.pick(PDU_LENGTHS(real));
    return `P-DATA-TF length ${m.length} (real ${real})`;
  }],
  'pdata-pdvs': [2, (r, e) => {
    const all = pdatas(e);
    if (all.length === 0) return undefined;
    const m = r.pick(all).m;
    const how = r.pick(['empty', 'split', 'double'] as const);
    if (how === 'empty') m.pdvs = [];
    else if (how === 'double') m.pdvs = [...m.pdvs, ...clone(m.pdvs)];
    else {
      const p = m.pdvs[0];
      if (!p || p.value.length < 2) return undefined;
      const pieces = r.range(2, Math.min(64, p.value.length));
      const size = Math.ceil(p.value.length / pieces);
      m.pdvs = Array.from({ length: Math.ceil(p.value.length / size) }, (_, k) => ({
        contextId: p.contextId,
        control: (p.control & 1) | (k === Math.ceil(p.value.length / size) - 1 ? p.control & 2 : 0),
        value: p.value.subarray(k * size, (k + 1) * size),
      }));
    }
    return `P-DATA-TF PDVs ${how}`;
  }],
  'command-element': [6, (r, e) => {
    const commands = pdatas(e).filter((p) => p.command);
    if (commands.length === 0) return undefined;
    const entry = r.pick(commands);
    const els = entry.command!;
    const what = r.pick(['length', 'drop', 'dup', 'field', 'uid', 'dataset-type', 'group-length', 'unknown-tag', 'odd'] as const);
    const el = r.pick(els);
    let note: string = what;
    switch (what) {
      case 'length':
        el.length = r.pick([0, 1, 3, el.value.length + 1, 0xffff, 0xffffffff, 0x7ffffff0]);
        note = `(0000,${el.element.toString(16).padStart(4, '0')}) length ${el.length}`;
        break;
      case 'drop':
        els.splice(els.indexOf(el), 1);
        note = `drop (0000,${el.element.toString(16).padStart(4, '0')})`;
        break;
      case 'dup':
        els.splice(els.indexOf(el), 0, clone(el));
        break;
      case 'field': {
        const f = els.find((x) => x.element === 0x0100);
        if (f) f.value = us(r.pick([0x0020, 0x0010, 0x0021, 0x0fff, 0x8001, 0x8030, 0xffff, 0x0000, 0x0100, 0x0110, 0x0150, 0x0fff]));
        note = `command field 0x${f?.value.readUInt16LE(0).toString(16)}`;
        break;
      }
      case 'uid': {
        const u = els.filter((x) => x.element === 0x0002 || x.element === 0x1000);
        if (u.length === 0) return undefined;
        const bad = r.pick(BAD_UIDS);
        r.pick(u).value = uidValue(bad);
        note = `command UID ${JSON.stringify(bad.slice(0, 24))}`;
        break;
      }
      case 'dataset-type': {
        const d = els.find((x) => x.element === 0x0800);
        if (d) d.value = us(d.value.readUInt16LE(0) === 0x0101 ? 0x0000 : 0x0101);
        break;
      }
      case 'group-length': {
        const g = els.find((x) => x.element === 0x0000);
        if (g) g.value.writeUInt32LE(r.pick([0, 1, 0xffffffff, g.value.readUInt32LE(0) + 2]) >>> 0);
        break;
      }
      case 'unknown-tag':
        els.splice(r.int(els.length + 1), 0, { group: r.pick([0, 2, 8, 0xffff]), element: r.int(0x10000), value: r.bytes(r.pick([0, 2, 7, 64])) });
        break;
      case 'odd':
        el.value = Buffer.concat([el.value, Buffer.of(r.int(256))]);
        break;
      default: {
        const unreachable: never = what;
        throw new Error(String(unreachable));
      }
    }
    const pdv = entry.m.pdvs[0];
    if (pdv) pdv.value = encodeCommand(els);
    return `command ${note}`;
  }],
  'dataset': [7, (r, e) => {
    const data = pdatas(e).filter((p) => p.role === 'data');
    if (data.length === 0) return undefined;
    const entry = r.pick(data);
    const pdv = entry.m.pdvs[0];
    if (!pdv || pdv.value.length === 0) return undefined;
    const what = r.pick(['truncate', 'flip', 'element-length', 'garbage', 'uid'] as const);
    const v = Buffer.from(pdv.value);
    switch (what) {
      case 'truncate':
        pdv.value = v.subarray(0, r.int(v.length));
        return `data fragment truncated to ${pdv.value.length}`;
      case 'flip': {
        const n = r.range(1, 16);
        for (let i = 0; i < n; i++) v[r.int(Math.min(v.length, 600))] = r.int(256);
        pdv.value = v;
        return `data set ${n} bytes flipped`;
      }
      case 'element-length': {
        const first = data.find((d) => d.msg === entry.msg);
        const fp = first?.m.pdvs[0];
        if (!fp) return undefined;
        const head = Buffer.from(fp.value);
        const els = explicitElementOffsets(head);
        if (els.length === 0) return undefined;
        const el = r.pick(els);
        if (el.long && el.offset + 12 <= head.length) head.writeUInt32LE(r.pick([0xffffffff, 0xfffffff0, 0x7fffffff, 1, 0]) >>> 0, el.offset + 8);
        else if (el.offset + 8 <= head.length) head.writeUInt16LE(r.pick([0xffff, 1, 0, 0x8001]), el.offset + 6);
        fp.value = head;
        return `data set element at ${el.offset} length forged`;
      }
      case 'garbage':
        pdv.value = r.bytes(r.range(1, Math.max(1, v.length)));
        return 'data fragment replaced by noise';
      case 'uid': {
        const at = v.indexOf(Buffer.from('2.25.', 'latin1'));
        if (at < 0) return undefined;
        const bad = Buffer.from(r.pick(BAD_UIDS).padEnd(10, '9').slice(0, 10), 'latin1');
        bad.copy(v, at);
        pdv.value = v;
        return 'data set UID overwritten';
      }
      default: {
        const unreachable: never = what;
        throw new Error(String(unreachable));
      }
    }
  }],
  'interleave': [5, (r, e) => {
    // A later message's command (or any P-DATA) lands between two data fragments of an earlier one.
    const data = pdatas(e).filter((p) => p.role === 'data');
    const commands = pdatas(e).filter((p) => p.role === 'command');
    if (data.length === 0 || commands.length === 0) return undefined;
    const target = r.pick(data);
    const mover = r.pick([...commands, ...data]);
    if (mover === target) return undefined;
    e.splice(e.indexOf(mover), 1);
    e.splice(e.indexOf(target), 0, mover);
    return `message ${mover.msg} ${mover.role} moved before message ${target.msg} data`;
  }],
  'reorder': [2, (r, e) => {
    if (e.length < 2) return undefined;
    const a = r.int(e.length);
    const b = r.int(e.length);
    [e[a], e[b]] = [e[b]!, e[a]!];
    return `swap PDUs ${a} and ${b}`;
  }],
  'drop-pdu': [3, (r, e) => {
    if (e.length < 2) return undefined;
    const i = r.range(1, e.length - 1);
    const [gone] = e.splice(i, 1);
    return `drop PDU ${i} (${gone?.t})`;
  }],
  'dup-pdu': [2, (r, e) => {
    const i = r.int(e.length);
    const entry = e[i]!;
    const times = r.pick([1, 2, 20]);
    for (let k = 0; k < times; k++) e.splice(i, 0, clone(entry));
    return `duplicate PDU ${i} (${entry.t}) x${times}`;
  }],
  'insert-control': [5, (r, e) => {
    const type = r.pick([2, 3, 5, 6, 7, 1]);
    const at = r.range(1, e.length);
    if (type === 1) {
      e.splice(at, 0, { t: 'rq', m: associateRqModel({ calling: 'AGAIN', contexts: CONTEXTS.slice(0, 2) }) });
      return `second A-ASSOCIATE-RQ at ${at}`;
    }
    const length = r.chance(0.3) ? r.pick([0, 3, 5, 100, 0xffffffff]) : undefined;
    const body = type === 2 || type === 3 ? r.bytes(r.pick([4, 10, 68])) : Buffer.alloc(4);
    e.splice(at, 0, { t: 'control', type, body, length });
    return `PDU type ${type} at ${at}${length === undefined ? '' : ` length ${length}`}`;
  }],
  'insert-unknown': [3, (r, e) => {
    const at = r.range(1, e.length);
    const type = r.pick([0, 8, 9, 0x41, 0x47, 0x80, 0xff, r.int(256)]);
    const body = r.bytes(r.pick([0, 4, 64, 1000]));
    e.splice(at, 0, { t: 'control', type, body, length: r.chance(0.3) ? r.pick([0xffffffff, body.length + 10]) : undefined });
    return `unknown PDU type ${type} at ${at}`;
  }],
  'insert-noise': [2, (r, e) => {
    const at = r.range(1, e.length);
    e.splice(at, 0, { t: 'raw', bytes: r.bytes(r.range(1, 300)) });
    return `noise at ${at}`;
  }],
};

function encode(e: Entry): Buffer {
  switch (e.t) {
    case 'rq':
      return encodeAssociateRq(e.m);
    case 'pdata':
      return encodePData(e.m);
    case 'control':
      return encodeControl(e.type, e.body, e.length);
    case 'raw':
      return e.bytes;
    default: {
      const unreachable: never = e;
      throw new Error(String(unreachable));
    }
  }
}

/** Splits the bytes into steps: whole PDUs at once, random chunks, or a trickle with delays. */
function chunk(r: Rng, pdus: Buffer[]): FuzzStep[] {
  const how = r.weighted([[6, 'pdus'], [3, 'chunks'], [1, 'trickle']] as const);
  if (how === 'pdus') return pdus.map((bytes) => ({ bytes, delayMs: r.chance(0.2) ? r.int(30) : 0 }));
  const all = Buffer.concat(pdus);
  const steps: FuzzStep[] = [];
  let off = 0;
  while (off < all.length) {
    const n = how === 'trickle' ? r.range(1, 8) : r.range(1, 4096);
    steps.push({ bytes: all.subarray(off, off + n), delayMs: how === 'trickle' ? r.int(15) : r.chance(0.1) ? r.int(20) : 0 });
    off += n;
    if (how === 'trickle' && steps.length > 120) {
      steps.push({ bytes: all.subarray(off), delayMs: 0 });
      break;
    }
  }
  return steps;
}

/** Case `index` of the run seeded `seed`. */
export function generateCase(seed: number, index: number): FuzzCase {
  const r = rng(caseSeed(seed, index));
  const callingAe = `F${index}`;
  const kind = r.weighted([
    [55, 'conversation'],
    [15, 'associate-rq'],
    [8, 'stream-cut-or-flip'],
    [8, 'random-bytes'],
    [8, 'forged-header'],
    [6, 'huge-length'],
  ] as const);
  const mutations: string[] = [];
  let pdus: Buffer[];
  switch (kind) {
    case 'conversation':
    case 'associate-rq':
    case 'stream-cut-or-flip': {
      let entries = conversation(r, callingAe);
      if (kind === 'associate-rq') entries = entries.slice(0, r.chance(0.5) ? 1 : 2);
      const names = Object.keys(MUTATIONS).filter((n) => kind !== 'associate-rq' || n.startsWith('rq-'));
      const wanted = kind === 'stream-cut-or-flip' ? r.int(2) : r.range(1, 4);
      for (let tries = 0; mutations.length < wanted && tries < 20; tries++) {
        const name = r.weighted(names.map((n) => [MUTATIONS[n]![0], n] as const));
        const note = MUTATIONS[name]![1](r, entries);
        if (note) mutations.push(`${name}: ${note}`);
      }
      pdus = entries.map(encode);
      if (kind === 'stream-cut-or-flip') {
        const all = Buffer.from(Buffer.concat(pdus));
        if (r.chance(0.5)) {
          const at = r.int(all.length);
          pdus = [all.subarray(0, at)];
          mutations.push(`stream cut at ${at} of ${all.length}`);
        } else {
          const n = r.range(1, 8);
          for (let i = 0; i < n; i++) {
            const at = r.int(all.length);
            all[at] = all[at]! ^ (1 << r.int(8));
          }
          pdus = [all];
          mutations.push(`${n} bit flips in ${all.length} bytes`);
        }
      }
      break;
    }
    case 'random-bytes': {
      const n = r.weighted([[5, r.range(1, 64)], [3, r.range(65, 4096)], [1, r.range(4097, 70_000)]] as const);
      pdus = [r.bytes(n)];
      mutations.push(`${n} random bytes`);
      break;
    }
    case 'forged-header': {
      const type = r.range(1, 7);
      const body = r.bytes(r.range(0, 2048));
      const length = r.chance(0.5) ? body.length : r.int(0x10000);
      const h = Buffer.alloc(6);
      h[0] = type;
      h.writeUInt32BE(length, 2);
      const prefix = type === 1 || r.chance(0.5) ? [] : [encodeAssociateRq(associateRqModel({ calling: callingAe, contexts: CONTEXTS }))];
      pdus = [...prefix, Buffer.concat([h, body])];
      mutations.push(`PDU type ${type} length ${length}, ${body.length} noise bytes${prefix.length ? ' after a valid association' : ''}`);
      break;
    }
    case 'huge-length': {
      const type = r.pick([1, 4, 4, 4, 5, 7]);
      const length = r.pick([0xffffffff, 0x7fffffff, 0x80000000, 131072 + 1, 256 * 1024 + 1, 0x10000000]);
      const h = Buffer.alloc(6);
      h[0] = type;
      h.writeUInt32BE(length >>> 0, 2);
      const prefix = type === 1 ? [] : [encodeAssociateRq(associateRqModel({ calling: callingAe, contexts: CONTEXTS }))];
      const bodyBytes = r.pick([0, 100, 65_536, 300_000]);
      pdus = [...prefix, h, ...(bodyBytes ? [r.bytes(Math.min(bodyBytes, 65_536)), Buffer.alloc(Math.max(0, bodyBytes - 65_536))] : [])];
      mutations.push(`PDU type ${type} declaring ${length} bytes, ${bodyBytes} sent`);
      break;
    }
    default: {
      const unreachable: never = kind;
      throw new Error(String(unreachable));
    }
  }
  return { seed, index, kind, mutations, callingAe, steps: chunk(r, pdus) };
}

/** A short, reproducible description of a case for reports. */
export function describeCase(c: FuzzCase): string {
  const bytes = c.steps.reduce((s, st) => s + st.bytes.length, 0);
  return `case ${c.index} (seed ${c.seed}) ${c.kind}: ${c.mutations.join('; ') || 'unmutated'}; ${bytes} bytes in ${c.steps.length} steps`;
}
