import zlib from 'node:zlib';
import { MalformedDataSetError } from '../errors.ts';
import { DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from './transfer-syntaxes.ts';

/** The identifying UIDs at the head of a data set; an absent attribute stays undefined. */
export interface DatasetHead {
  sopClassUid?: string;
  sopInstanceUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
}

const WANTED: Readonly<Record<number, keyof DatasetHead>> = {
  0x00080016: 'sopClassUid',
  0x00080018: 'sopInstanceUid',
  0x0020000d: 'studyInstanceUid',
  0x0020000e: 'seriesInstanceUid',
};
const LAST_WANTED_TAG = 0x0020000e;
const ITEM = 0xfffee000;
const ITEM_DELIMITER = 0xfffee00d;
const SEQUENCE_DELIMITER = 0xfffee0dd;
const UNDEFINED_LENGTH = 0xffffffff;
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);

/** Thrown inside the parser when the buffer ends before the answer; the caller waits for more bytes. */
class NeedMoreData extends Error {}

interface Syntax {
  readonly explicit: boolean;
  readonly littleEndian: boolean;
}

class Cursor {
  offset = 0;
  readonly buffer: Buffer;
  readonly syntax: Syntax;
  constructor(buffer: Buffer, syntax: Syntax) {
    this.buffer = buffer;
    this.syntax = syntax;
  }
  need(bytes: number): void {
    if (this.offset + bytes > this.buffer.length) throw new NeedMoreData();
  }
  u16(at: number): number {
    return this.syntax.littleEndian ? this.buffer.readUInt16LE(at) : this.buffer.readUInt16BE(at);
  }
  u32(at: number): number {
    return this.syntax.littleEndian ? this.buffer.readUInt32LE(at) : this.buffer.readUInt32BE(at);
  }
}

interface ElementHeader {
  readonly tag: number;
  readonly vr: string | undefined;
  readonly length: number;
}

/** Item and delimiter tags carry no VR, even in explicit VR syntaxes (PS3.5 7.5). */
function readHeader(cursor: Cursor, explicit: boolean): ElementHeader {
  cursor.need(8);
  const at = cursor.offset;
  const tag = ((cursor.u16(at) << 16) | cursor.u16(at + 2)) >>> 0;
  if (!explicit || tag >>> 16 === 0xfffe) {
    cursor.offset += 8;
    return { tag, vr: undefined, length: cursor.u32(at + 4) };
  }
  const vr = cursor.buffer.toString('latin1', at + 4, at + 6);
  if (!/^[A-Z]{2}$/.test(vr)) {
    throw new MalformedDataSetError(`element (${hex(tag)}) has an invalid VR; the data set is not in its negotiated transfer syntax`);
  }
  if (LONG_VRS.has(vr)) {
    cursor.need(12);
    cursor.offset += 12;
    return { tag, vr, length: cursor.u32(at + 8) };
  }
  cursor.offset += 8;
  return { tag, vr, length: cursor.u16(at + 6) };
}

function hex(tag: number): string {
  const text = tag.toString(16).toUpperCase().padStart(8, '0');
  return `${text.slice(0, 4)},${text.slice(4)}`;
}

function skip(cursor: Cursor, length: number): void {
  cursor.need(length);
  cursor.offset += length;
}

/** Skips an undefined-length sequence; UN with undefined length is implicit VR inside (PS3.5 6.2.2). */
function skipSequence(cursor: Cursor, explicit: boolean): void {
  for (;;) {
    const item = readHeader(cursor, explicit);
    if (item.tag === SEQUENCE_DELIMITER) return;
    if (item.tag !== ITEM) throw new MalformedDataSetError(`expected a sequence item, found (${hex(item.tag)})`);
    if (item.length !== UNDEFINED_LENGTH) {
      skip(cursor, item.length);
      continue;
    }
    for (;;) {
      const element = readHeader(cursor, explicit);
      if (element.tag === ITEM_DELIMITER) break;
      skipValue(cursor, element, explicit);
    }
  }
}

function skipValue(cursor: Cursor, element: ElementHeader, explicit: boolean): void {
  if (element.length === UNDEFINED_LENGTH) skipSequence(cursor, explicit && element.vr !== 'UN');
  else skip(cursor, element.length);
}

/** Parses from the start of `buffer`; returns true once every wanted attribute is known or passed. */
function parse(buffer: Buffer, syntax: Syntax, head: DatasetHead): boolean {
  const cursor = new Cursor(buffer, syntax);
  let previous = -1;
  try {
    while (cursor.offset < buffer.length) {
      const element = readHeader(cursor, syntax.explicit);
      if (element.tag >>> 16 === 0xfffe) throw new MalformedDataSetError(`unexpected (${hex(element.tag)}) at the top level`);
      if (element.tag <= previous) throw new MalformedDataSetError(`elements out of order at (${hex(element.tag)})`);
      previous = element.tag;
      if (element.tag > LAST_WANTED_TAG) return true;
      const field = WANTED[element.tag];
      if (field !== undefined && element.length !== UNDEFINED_LENGTH) {
        cursor.need(element.length);
        head[field] = buffer.toString('latin1', cursor.offset, cursor.offset + element.length).replace(/[\0 ]+$/, '');
        cursor.offset += element.length;
      } else {
        skipValue(cursor, element, syntax.explicit);
      }
    }
    return false;
  } catch (error) {
    if (error instanceof NeedMoreData) return false;
    throw error;
  }
}

/**
 * Reads just far enough into a data set, as it streams in, to name the object: up to and
 * including Series Instance UID (0020,000E). Pixel data is never reached, let alone parsed.
 * Holds at most `limitBytes` of the head; a data set that needs more is refused as malformed.
 */
export class DatasetHeadReader {
  readonly #syntax: Syntax;
  readonly #deflated: boolean;
  readonly #limitBytes: number;
  #chunks: Buffer[] = [];
  #length = 0;
  #head: DatasetHead | undefined;

  constructor(transferSyntaxUid: string, limitBytes: number) {
    this.#deflated = transferSyntaxUid === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN;
    this.#syntax = {
      explicit: transferSyntaxUid !== IMPLICIT_VR_LITTLE_ENDIAN,
      littleEndian: transferSyntaxUid !== EXPLICIT_VR_BIG_ENDIAN,
    };
    this.#limitBytes = limitBytes;
  }

  /** Feeds the next bytes; returns the head once it is known, else undefined. */
  push(chunk: Buffer): DatasetHead | undefined {
    if (this.#head) return this.#head;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    const head: DatasetHead = {};
    if (parse(this.#plain(false), this.#syntax, head)) return this.#done(head);
    if (this.#length > this.#limitBytes) {
      throw new MalformedDataSetError(`Series Instance UID not reached within the first ${this.#limitBytes} bytes of the data set`);
    }
    return undefined;
  }

  /** The data set ended: returns what its (short) head holds, or throws if it ended mid-element. */
  finish(): DatasetHead {
    if (this.#head) return this.#head;
    const buffer = this.#plain(true);
    const head: DatasetHead = {};
    if (!parse(buffer, this.#syntax, head) && !endsCleanly(buffer, this.#syntax)) {
      throw new MalformedDataSetError('the data set ends in the middle of an element');
    }
    return this.#done(head);
  }

  #done(head: DatasetHead): DatasetHead {
    this.#head = head;
    this.#chunks = [];
    return head;
  }

  #plain(final: boolean): Buffer {
    const raw = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
    this.#chunks = [raw];
    if (!this.#deflated) return raw;
    try {
      return zlib.inflateRawSync(raw, {
        finishFlush: final ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
        maxOutputLength: this.#limitBytes * 4,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new MalformedDataSetError(`Series Instance UID not reached within the first ${this.#limitBytes * 4} inflated bytes`);
      }
      throw new MalformedDataSetError(`the deflated data set cannot be inflated: ${(error as Error).message}`);
    }
  }
}

/** True when the buffer holds only whole elements (a short data set that simply ended). */
function endsCleanly(buffer: Buffer, syntax: Syntax): boolean {
  const cursor = new Cursor(buffer, syntax);
  try {
    while (cursor.offset < buffer.length) skipValue(cursor, readHeader(cursor, syntax.explicit), syntax.explicit);
    return true;
  } catch (error) {
    if (error instanceof NeedMoreData) return false;
    throw error;
  }
}
