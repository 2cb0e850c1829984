import { finished } from 'node:stream/promises';
import zlib from 'node:zlib';
import { MalformedDataSetError } from '../errors.ts';
import { DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from './transfer-syntaxes.ts';

/** A completeness check fed as the data set streams in; `end` throws if it was not whole. */
export interface FramingCheck {
  push(chunk: Buffer): void;
  end(): Promise<void>;
}

/** Lets the check hold the sender back while it catches up (only inflating ever lags). */
export interface Backpressure {
  pause(): void;
  resume(): void;
}

export function framingCheckFor(transferSyntaxUid: string, backpressure: Backpressure): FramingCheck {
  if (transferSyntaxUid === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) return new DeflatedFraming(backpressure);
  const framing = new DatasetFraming(transferSyntaxUid);
  return { push: (chunk) => framing.push(chunk), end: async () => framing.end() };
}

/**
 * A deflated data set is walked as it inflates, so a stream cut after the head, or a corrupt
 * one, is caught too. The inflated bytes are only walked, never kept.
 */
class DeflatedFraming implements FramingCheck {
  readonly #inflate = zlib.createInflateRaw();
  readonly #framing = new DatasetFraming('1.2.840.10008.1.2.1');
  readonly #backpressure: Backpressure;
  #error: Error | undefined;
  #paused = false;

  constructor(backpressure: Backpressure) {
    this.#backpressure = backpressure;
    this.#inflate.on('data', (chunk: Buffer) => {
      try {
        this.#framing.push(chunk);
      } catch (error) {
        this.#error ??= error as Error;
      }
    });
    this.#inflate.on('error', (error) => {
      this.#error ??= new MalformedDataSetError(`the deflated data set cannot be inflated: ${error.message}`);
    });
  }

  push(chunk: Buffer): void {
    if (this.#error) throw this.#error;
    if (this.#inflate.write(chunk) || this.#paused) return;
    this.#paused = true;
    this.#backpressure.pause();
    this.#inflate.once('drain', () => {
      this.#paused = false;
      this.#backpressure.resume();
    });
  }

  async end(): Promise<void> {
    this.#inflate.end();
    // finished() settles even when the inflater already failed and was destroyed.
    await finished(this.#inflate).catch(() => undefined);
    if (this.#error) throw this.#error;
    this.#framing.end();
  }
}

const UNDEFINED_LENGTH = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITER = 0xfffee00d;
const SEQUENCE_DELIMITER = 0xfffee0dd;
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);

/** Where the walk is: in a data set (top level or an item), or in a sequence expecting items. */
interface Level {
  readonly kind: 'dataset' | 'sequence';
  readonly explicit: boolean;
}

/**
 * Checks, as bytes stream past, that a data set is whole: every element header is followed
 * by as many value bytes as it declares, and every undefined-length sequence, item and
 * encapsulated pixel data is closed. Defined-length values are skipped whole. Values are skipped, never read, so this costs a few
 * header reads per instance and catches a truncated or corrupt transfer before it is
 * acknowledged. Deflated data sets are not walked (that would mean inflating them).
 */
export class DatasetFraming {
  readonly #littleEndian: boolean;
  readonly #stack: Level[];
  readonly #header = Buffer.alloc(12);
  #headerFill = 0;
  #skip = 0;

  constructor(transferSyntaxUid: string) {
    this.#littleEndian = transferSyntaxUid !== EXPLICIT_VR_BIG_ENDIAN;
    this.#stack = [{ kind: 'dataset', explicit: transferSyntaxUid !== IMPLICIT_VR_LITTLE_ENDIAN, }];
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, chunk.length - offset);
        this.#skip -= take;
        offset += take;
        continue;
      }
      const need = this.#headerLength();
      const take = Math.min(need - this.#headerFill, chunk.length - offset);
      chunk.copy(this.#header, this.#headerFill, offset, offset + take);
      this.#headerFill += take;
      offset += take;
      // The VR, read with the first 6 bytes, may say the header is 12 bytes long.
      if (this.#headerFill === this.#headerLength()) this.#onHeader();
    }
  }

  /** The data set ended: throws unless it ended between two top-level elements. */
  end(): void {
    if (this.#skip > 0 || this.#headerFill > 0 || this.#stack.length > 1) {
      throw new MalformedDataSetError('the data set ends in the middle of an element');
    }
  }

  #u16(at: number): number {
    return this.#littleEndian ? this.#header.readUInt16LE(at) : this.#header.readUInt16BE(at);
  }

  #u32(at: number): number {
    return this.#littleEndian ? this.#header.readUInt32LE(at) : this.#header.readUInt32BE(at);
  }

  /** 8 bytes, or 12 once an explicit header's VR turns out to be a long one. */
  #headerLength(): number {
    const level = this.#stack.at(-1)!;
    if (this.#headerFill < 6 || !level.explicit || level.kind === 'sequence') return 8;
    if (this.#u16(0) === 0xfffe) return 8;
    return LONG_VRS.has(this.#header.toString('latin1', 4, 6)) ? 12 : 8;
  }

  #onHeader(): void {
    const length = this.#headerFill;
    this.#headerFill = 0;
    const tag = ((this.#u16(0) << 16) | this.#u16(2)) >>> 0;
    const level = this.#stack.at(-1)!;
    const isDelimiter = tag >>> 16 === 0xfffe;
    const vr = level.explicit && !isDelimiter && level.kind === 'dataset' ? this.#header.toString('latin1', 4, 6) : undefined;
    if (vr !== undefined && !/^[A-Z]{2}$/.test(vr)) throw new MalformedDataSetError('an element has an invalid VR');
    const valueLength = length === 12 ? this.#u32(8) : vr !== undefined ? this.#u16(6) : this.#u32(4);

    if (level.kind === 'sequence') {
      if (tag === SEQUENCE_DELIMITER) return this.#pop('sequence');
      if (tag !== ITEM) throw new MalformedDataSetError('a sequence holds something other than items');
      if (valueLength === UNDEFINED_LENGTH) this.#stack.push({ kind: 'dataset', explicit: level.explicit, });
      else this.#skip = valueLength;
      return;
    }
    if (tag === ITEM_DELIMITER) {
      if (this.#stack.length === 1) throw new MalformedDataSetError('an item delimiter outside any item');
      return this.#pop('dataset');
    }
    if (isDelimiter) throw new MalformedDataSetError('an item or sequence delimiter where an element belongs');
    if (valueLength === UNDEFINED_LENGTH) {
      // Undefined-length UN is implicit VR little endian inside (PS3.5 6.2.2).
      this.#stack.push({ kind: 'sequence', explicit: level.explicit && vr !== 'UN', });
      return;
    }
    this.#skip = valueLength;
  }

  #pop(kind: Level['kind']): void {
    if (this.#stack.at(-1)!.kind !== kind) throw new MalformedDataSetError('a delimiter does not match its sequence or item');
    this.#stack.pop();
  }
}
