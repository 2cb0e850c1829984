import { createRequire } from 'node:module';
import dimse from 'dcmjs-dimse';

/** The few members of dcmjs (which ships no types) that encoding a command set uses. */
interface WriteBufferStream {
  readonly size: number;
  concat(stream: WriteBufferStream): void;
  getBuffer(): ArrayBuffer;
}
type Elements = Record<string, unknown>;
interface Dcmjs {
  readonly data: {
    readonly WriteBufferStream: new (chunkBytes: number) => WriteBufferStream;
    readonly DicomMetaDictionary: { denaturalizeDataset(elements: Elements): Elements };
    readonly DicomMessage: {
      write(elements: Elements, stream: WriteBufferStream, syntax: string, writeOptions: Elements | undefined): number;
      writeTagObject(stream: WriteBufferStream, tag: string, vr: string, value: number, syntax: string, writeOptions: Elements | undefined): void;
    };
  };
}

// Required from dcmjs-dimse's own location, so this is the very copy it encodes with.
const requireFromDimse = createRequire(createRequire(import.meta.url).resolve('dcmjs-dimse'));
const { WriteBufferStream, DicomMetaDictionary, DicomMessage } = (requireFromDimse('dcmjs') as Dcmjs).data;

const IMPLICIT_VR_LITTLE_ENDIAN = dimse.constants.TransferSyntax.ImplicitVRLittleEndian;
/**
 * A command set is a few hundred bytes; dcmjs adds further chunks of this size when one is
 * not enough, as it does for its own 1 KiB file meta stream.
 */
const CHUNK_BYTES = 1024;

type Dataset = InstanceType<typeof dimse.Dataset>;
type ElementsParser = (this: Dataset, buffer: Buffer, transferSyntaxUid: string, options: Elements) => Elements;

type CommandVr = 'UI' | 'US' | 'UL' | 'AE' | 'LO';

/** Command elements (PS3.7 E.1) with a single value of a simple VR: all that C-STORE and C-ECHO use. */
const COMMAND_ELEMENTS: Readonly<Record<string, readonly [element: number, vr: CommandVr]>> = {
  AffectedSOPClassUID: [0x0002, 'UI'],
  RequestedSOPClassUID: [0x0003, 'UI'],
  CommandField: [0x0100, 'US'],
  MessageID: [0x0110, 'US'],
  MessageIDBeingRespondedTo: [0x0120, 'US'],
  MoveDestination: [0x0600, 'AE'],
  Priority: [0x0700, 'US'],
  CommandDataSetType: [0x0800, 'US'],
  Status: [0x0900, 'US'],
  ErrorComment: [0x0902, 'LO'],
  ErrorID: [0x0903, 'US'],
  AffectedSOPInstanceUID: [0x1000, 'UI'],
  RequestedSOPInstanceUID: [0x1001, 'UI'],
  EventTypeID: [0x1002, 'US'],
  ActionTypeID: [0x1008, 'US'],
  NumberOfRemainingSuboperations: [0x1020, 'US'],
  NumberOfCompletedSuboperations: [0x1021, 'US'],
  NumberOfFailedSuboperations: [0x1022, 'US'],
  NumberOfWarningSuboperations: [0x1023, 'US'],
  MoveOriginatorApplicationEntityTitle: [0x1030, 'AE'],
  MoveOriginatorMessageID: [0x1031, 'US'],
};

/** Element number → keyword and VR, for reading; the group length comes first in every command set. */
const BY_ELEMENT = new Map<number, readonly [keyword: string, vr: CommandVr]>([
  [0x0000, ['CommandGroupLength', 'UL']],
  ...Object.entries(COMMAND_ELEMENTS).map(([keyword, [element, vr]]) => [element, [keyword, vr]] as const),
]);

/** Printable ASCII with no value separator and nothing a writer or reader might trim. */
const PLAIN_TEXT = /^[\x21-\x5b\x5d-\x7e](?:[\x20-\x5b\x5d-\x7e]*[\x21-\x5b\x5d-\x7e])?$/;
/** dcmjs drops any other character from a UID it reads. */
const UID = /^[0-9.]+$/;
const plain = (vr: CommandVr, text: string) => (vr === 'UI' ? UID : PLAIN_TEXT).test(text);

const padOf = (vr: CommandVr) => (vr === 'UI' ? '\0' : ' ');

function valueBytes(vr: CommandVr, value: unknown): Buffer | undefined {
  if (vr === 'US' || vr === 'UL') {
    const max = vr === 'US' ? 0xffff : 0xffffffff;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) return undefined;
    const bytes = Buffer.alloc(vr === 'US' ? 2 : 4);
    if (vr === 'US') bytes.writeUInt16LE(value);
    else bytes.writeUInt32LE(value);
    return bytes;
  }
  if (typeof value !== 'string' || !plain(vr, value)) return undefined;
  return Buffer.from(value.length % 2 === 0 ? value : value + padOf(vr), 'latin1');
}

function valueOf(vr: CommandVr, bytes: Buffer): number | string | undefined {
  if (vr === 'US') return bytes.length === 2 ? bytes.readUInt16LE() : undefined;
  if (vr === 'UL') return bytes.length === 4 ? bytes.readUInt32LE() : undefined;
  if (bytes.length === 0 || bytes.length % 2 !== 0) return undefined;
  const text = bytes.toString('latin1');
  const value = text.endsWith(padOf(vr)) ? text.slice(0, -1) : text;
  return plain(vr, value) ? value : undefined;
}

/**
 * Implicit VR Little Endian, elements in tag order, group length first: what dcmjs writes for
 * a command set, without its dictionary look-ups and stream objects. Undefined when an element
 * or value is outside the simple cases above, so that dcmjs encodes it instead.
 */
function encodeSimpleCommandSet(elements: Elements): Buffer | undefined {
  const fields: [element: number, value: Buffer][] = [];
  for (const [keyword, value] of Object.entries(elements)) {
    if (value === undefined) continue;
    const definition = COMMAND_ELEMENTS[keyword];
    if (!definition) return undefined;
    const bytes = valueBytes(definition[1], value);
    if (!bytes) return undefined;
    fields.push([definition[0], bytes]);
  }
  fields.sort((a, b) => a[0] - b[0]);
  const length = fields.reduce((sum, [, value]) => sum + 8 + value.length, 0);
  const out = Buffer.alloc(12 + length);
  out.writeUInt32LE(4, 4);
  out.writeUInt32LE(length, 8);
  let offset = 12;
  for (const [element, value] of fields) {
    out.writeUInt16LE(element, offset + 2);
    out.writeUInt32LE(value.length, offset + 4);
    value.copy(out, offset + 8);
    offset += 8 + value.length;
  }
  return out;
}

/**
 * The elements dcmjs would read from an Implicit VR Little Endian command set, in the same
 * form; undefined for anything outside the simple cases (other groups or elements, odd or
 * padded text), which dcmjs then reads itself.
 */
function decodeSimpleCommandSet(buffer: Buffer): Elements | undefined {
  const elements: Elements = { _vrMap: {} };
  let offset = 0;
  while (offset < buffer.length) {
    if (buffer.length - offset < 8 || buffer.readUInt16LE(offset) !== 0x0000) return undefined;
    const known = BY_ELEMENT.get(buffer.readUInt16LE(offset + 2));
    const length = buffer.readUInt32LE(offset + 4);
    if (!known || length > buffer.length - offset - 8) return undefined;
    const value = valueOf(known[1], buffer.subarray(offset + 8, offset + 8 + length));
    if (value === undefined || known[0] in elements) return undefined;
    elements[known[0]] = value;
    offset += 8 + length;
  }
  return elements;
}

/**
 * dcmjs-dimse encodes every DIMSE message it sends with dcmjs: a dictionary pass and two
 * 256 KiB streams for a ~100-byte response, which dominated its cost per instance. Responses
 * are written directly; anything else takes dcmjs-dimse's own steps, on 1 KiB streams.
 */
function getDenaturalizedCommandDataset(this: Dataset, writeOptions?: Elements): Buffer {
  const direct = encodeSimpleCommandSet(this.getElements());
  if (direct) return direct;
  const elements = DicomMetaDictionary.denaturalizeDataset(this.getElements());
  const groupLength = new WriteBufferStream(CHUNK_BYTES);
  const commands = new WriteBufferStream(CHUNK_BYTES);
  DicomMessage.write(elements, commands, IMPLICIT_VR_LITTLE_ENDIAN, writeOptions);
  DicomMessage.writeTagObject(groupLength, '00000000', 'UL', commands.size, IMPLICIT_VR_LITTLE_ENDIAN, writeOptions);
  groupLength.concat(commands);
  return Buffer.from(groupLength.getBuffer());
}

const prototype = dimse.Dataset.prototype as Dataset & { _fromElementsBuffer: ElementsParser };
const readWithDcmjs: ElementsParser = prototype._fromElementsBuffer;

/**
 * dcmjs-dimse reads every command set it receives with dcmjs (a stream object, a dictionary
 * look-up per element, then a naturalizing pass). Data sets and unusual command sets still are.
 */
function fromElementsBuffer(this: Dataset, buffer: Buffer, transferSyntaxUid: string, options: Elements): Elements {
  return (transferSyntaxUid === IMPLICIT_VR_LITTLE_ENDIAN ? decodeSimpleCommandSet(buffer) : undefined) ?? readWithDcmjs.call(this, buffer, transferSyntaxUid, options);
}

/**
 * Replaces dcmjs-dimse's command set encoder and decoder with the direct ones, producing
 * the same bytes and elements; calling it again changes nothing.
 */
export function installCommandSetCodec(): void {
  dimse.Dataset.prototype.getDenaturalizedCommandDataset = getDenaturalizedCommandDataset;
  prototype._fromElementsBuffer = fromElementsBuffer;
}
