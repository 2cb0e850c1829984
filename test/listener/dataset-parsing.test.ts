import zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { DatasetFraming, framingCheckFor } from '../../listener/dicom/dataset-framing.ts';
import { DatasetHeadReader } from '../../listener/dicom/dataset-head.ts';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const UNDEFINED = 0xffffffff;

/** A tiny data set writer: enough to build the shapes the parsers must walk. */
function el(tag: number, vr: string | undefined, value: Buffer | number, bigEndian = false): Buffer {
  const long = vr === undefined || ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
  const header = Buffer.alloc(vr === undefined ? 8 : long ? 12 : 8);
  const u16 = (v: number, at: number) => (bigEndian ? header.writeUInt16BE(v, at) : header.writeUInt16LE(v, at));
  const u32 = (v: number, at: number) => (bigEndian ? header.writeUInt32BE(v, at) : header.writeUInt32LE(v, at));
  u16(tag >>> 16, 0);
  u16(tag & 0xffff, 2);
  const length = typeof value === 'number' ? value : value.length;
  if (vr === undefined) u32(length, 4);
  else {
    header.write(vr, 4, 'latin1');
    if (long) u32(length, 8);
    else u16(length, 6);
  }
  return typeof value === 'number' ? header : Buffer.concat([header, value]);
}

const uid = (text: string) => Buffer.from(text.length % 2 ? `${text}\0` : text, 'latin1');
const item = (body: Buffer, bigEndian = false) => Buffer.concat([el(0xfffee000, undefined, UNDEFINED, bigEndian), body, el(0xfffee00d, undefined, 0, bigEndian)]);
const seqEnd = (bigEndian = false) => el(0xfffee0dd, undefined, 0, bigEndian);

function explicitDataSet(bigEndian = false): Buffer {
  return Buffer.concat([
    el(0x00080016, 'UI', uid('1.2.840.10008.5.1.4.1.1.7'), bigEndian),
    el(0x00080018, 'UI', uid('1.2.3.4'), bigEndian),
    // An undefined-length sequence with a nested undefined-length sequence, before the study UID.
    el(0x00081110, 'SQ', UNDEFINED, bigEndian),
    item(Buffer.concat([el(0x00081150, 'UI', uid('1.2.3'), bigEndian), el(0x00081199, 'SQ', UNDEFINED, bigEndian), item(el(0x00081155, 'UI', uid('9.9'), bigEndian), bigEndian), seqEnd(bigEndian)]), bigEndian),
    seqEnd(bigEndian),
    el(0x0020000d, 'UI', uid('1.2.3.4.5'), bigEndian),
    el(0x0020000e, 'UI', uid('1.2.3.4.5.6'), bigEndian),
    el(0x00280010, 'US', Buffer.of(0, 1), bigEndian),
    // Encapsulated pixel data: offset table, two fragments, delimiter.
    el(0x7fe00010, 'OB', UNDEFINED, bigEndian),
    el(0xfffee000, undefined, Buffer.alloc(0), bigEndian),
    el(0xfffee000, undefined, Buffer.alloc(1000, 7), bigEndian),
    el(0xfffee000, undefined, Buffer.alloc(500, 9), bigEndian),
    seqEnd(bigEndian),
  ]);
}

function implicitDataSet(): Buffer {
  return Buffer.concat([
    el(0x00080016, undefined, uid('1.2.840.10008.5.1.4.1.1.7')),
    el(0x00080018, undefined, uid('1.2.3.4')),
    el(0x00081110, undefined, UNDEFINED),
    item(el(0x00081150, undefined, uid('1.2.3'))),
    seqEnd(),
    el(0x0020000d, undefined, uid('1.2.3.4.5')),
    el(0x0020000e, undefined, uid('1.2.3.4.5.6')),
    el(0x7fe00010, undefined, Buffer.alloc(2048, 1)),
  ]);
}

/** Feeds bytes in awkward pieces, so headers straddle chunk boundaries. */
function inPieces(bytes: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) pieces.push(bytes.subarray(offset, offset + size));
  return pieces;
}

const EXPECTED_HEAD = { sopClassUid: '1.2.840.10008.5.1.4.1.1.7', sopInstanceUid: '1.2.3.4', studyInstanceUid: '1.2.3.4.5', seriesInstanceUid: '1.2.3.4.5.6' };

describe('DatasetHeadReader', () => {
  test.each([
    ['explicit VR little endian', EXPLICIT_LE, explicitDataSet()],
    ['implicit VR little endian', IMPLICIT_LE, implicitDataSet()],
    ['explicit VR big endian', BIG_ENDIAN, explicitDataSet(true)],
    ['deflated', DEFLATED, zlib.deflateRawSync(explicitDataSet())],
  ])('reads the identifying UIDs past nested sequences in %s, 7 bytes at a time', (_name, ts, bytes) => {
    const reader = new DatasetHeadReader(ts, 1 << 20);
    let head;
    for (const piece of inPieces(bytes, 7)) head ??= reader.push(piece);
    expect(head).toEqual(EXPECTED_HEAD);
  });

  test('a head that never reaches the series UID within the limit is refused', () => {
    const reader = new DatasetHeadReader(EXPLICIT_LE, 1024);
    const big = el(0x00091010, 'OB', Buffer.alloc(4096));
    expect(() => inPieces(big, 512).forEach((piece) => reader.push(piece))).toThrow(/not reached within the first 1024 bytes/);
  });
});

describe('DatasetFraming', () => {
  test.each([
    ['explicit VR little endian', EXPLICIT_LE, explicitDataSet()],
    ['implicit VR little endian', IMPLICIT_LE, implicitDataSet()],
    ['explicit VR big endian', BIG_ENDIAN, explicitDataSet(true)],
  ])('accepts a whole %s data set with sequences and encapsulated pixel data', (_name, ts, bytes) => {
    const framing = new DatasetFraming(ts);
    for (const piece of inPieces(bytes, 5)) framing.push(piece);
    expect(() => framing.end()).not.toThrow();
  });

  test.each([1, 8, 100, 600])('refuses the explicit data set cut %i bytes short', (cut) => {
    const bytes = explicitDataSet();
    const framing = new DatasetFraming(EXPLICIT_LE);
    framing.push(bytes.subarray(0, bytes.length - cut));
    expect(() => framing.end()).toThrow(/ends in the middle/);
  });

  test('refuses a sequence that holds a plain element where items belong', () => {
    const framing = new DatasetFraming(EXPLICIT_LE);
    expect(() => framing.push(Buffer.concat([el(0x00081110, 'SQ', UNDEFINED), el(0x00100010, 'PN', Buffer.from('AB'))]))).toThrow(/other than items/);
  });

  test('refuses an invalid VR in an explicit syntax', () => {
    const framing = new DatasetFraming(EXPLICIT_LE);
    expect(() => framing.push(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(/invalid VR/);
  });
});

describe('framing check of deflated data sets', () => {
  const paused: string[] = [];
  const backpressure = { pause: () => paused.push('pause'), resume: () => paused.push('resume') };

  test('a whole deflated data set passes as it inflates', async () => {
    const check = framingCheckFor(DEFLATED, backpressure);
    for (const piece of inPieces(zlib.deflateRawSync(explicitDataSet()), 64)) check.push(piece);
    await expect(check.end()).resolves.toBeUndefined();
  });

  test('a deflated data set cut after its head is refused', async () => {
    // GIVEN the deflate stream of a data set truncated inside its pixel data
    const whole = explicitDataSet();
    const check = framingCheckFor(DEFLATED, backpressure);
    check.push(zlib.deflateRawSync(whole.subarray(0, whole.length - 700)));
    // THEN the check refuses it at the end
    await expect(check.end()).rejects.toThrow(/ends in the middle/);
  });

  test('bytes that do not inflate are refused', async () => {
    const check = framingCheckFor(DEFLATED, backpressure);
    check.push(Buffer.from('this is not a deflate stream at all, just text'));
    await expect(check.end()).rejects.toThrow(/cannot be inflated/);
  });
});
