// Minimal DICOM Part 10 writer/reader for synthetic test instances.
//
// Why hand-rolled: the tests need byte-exact control (deterministic pixel
// data, known lengths, multi-GiB files written without buffering, arbitrary
// encapsulated fragments for transfer syntaxes dcmtk 3.6.7 cannot encode).
// Everything written here is Explicit VR Little Endian (the File Meta group is
// always Explicit VR LE by the standard; encapsulated transfer syntaxes also
// use Explicit VR LE for the data set), and the output passes dcmftest and
// dcmdump.
import { createHash, randomUUID } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';

export const SopClass = {
  SecondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  MultiFrameGrayscaleByteSC: '1.2.840.10008.5.1.4.1.1.7.2',
  MultiFrameGrayscaleWordSC: '1.2.840.10008.5.1.4.1.1.7.3',
  CT: '1.2.840.10008.5.1.4.1.1.2',
  VideoPhotographic: '1.2.840.10008.5.1.4.1.1.77.1.4.1',
} as const;

export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  JpegBaseline: '1.2.840.10008.1.2.4.50',
  JpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  JpegLsLossless: '1.2.840.10008.1.2.4.80',
  Jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  Jpeg2000: '1.2.840.10008.1.2.4.91',
  HtJ2kLossless: '1.2.840.10008.1.2.4.201',
  HtJ2kLosslessRpcl: '1.2.840.10008.1.2.4.202',
  HtJ2k: '1.2.840.10008.1.2.4.203',
  Mpeg2MainProfile: '1.2.840.10008.1.2.4.100',
  Mpeg4HighProfile: '1.2.840.10008.1.2.4.102',
  HevcMainProfile: '1.2.840.10008.1.2.4.107',
  Rle: '1.2.840.10008.1.2.5',
} as const;

/** dcmtk's own implementation class UID is not ours to use; this is a 2.25 UUID-derived root. */
export const IMPLEMENTATION_CLASS_UID = '2.25.297122157213957330155337536390316437777';
export const IMPLEMENTATION_VERSION_NAME = 'DICOMS3TEST';

/** A globally unique UID under the 2.25 (UUID) root, at most 64 characters. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replaceAll('-', '')}`).toString()}`;
}

export interface InstanceOptions {
  sopClassUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
  /** PHI canaries: tests grep logs/metrics/object keys for these. */
  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  accessionNumber?: string;
  modality?: string;
  instanceNumber?: number;
  rows?: number;
  columns?: number;
  bitsAllocated?: 8 | 16;
  /** Defaults to bitsAllocated (12 is typical for CT). */
  bitsStored?: number;
  samplesPerPixel?: 1 | 3;
  photometricInterpretation?: string;
  numberOfFrames?: number;
  /** 'random' = deterministic xorshift noise (default); 'pattern' = compressible gradient. */
  pixels?: 'random' | 'pattern' | Uint8Array;
  seed?: number;
}

/** The identifying values an instance was written with (defaults resolved). */
export interface InstanceInfo {
  path: string;
  transferSyntaxUid: string;
  sopClassUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  patientName: string;
  patientId: string;
  patientBirthDate: string;
  accessionNumber: string;
  /** Size of the whole file in bytes. */
  fileBytes: number;
  /** SHA-256 (hex) of the data set bytes, i.e. what readDataSet() returns. */
  dataSetSha256: string;
}

type Resolved = Required<Omit<InstanceOptions, 'pixels' | 'seed'>> & Pick<InstanceOptions, 'pixels' | 'seed'>;

function resolve(o: InstanceOptions): Resolved {
  const sopClassUid = o.sopClassUid ?? SopClass.SecondaryCapture;
  const bitsAllocated = o.bitsAllocated ?? 8;
  const samplesPerPixel = o.samplesPerPixel ?? 1;
  return {
    sopClassUid,
    studyInstanceUid: o.studyInstanceUid ?? newUid(),
    seriesInstanceUid: o.seriesInstanceUid ?? newUid(),
    sopInstanceUid: o.sopInstanceUid ?? newUid(),
    patientName: o.patientName ?? 'CANARY^PHI^NAME',
    patientId: o.patientId ?? 'CANARY-PID-0001',
    patientBirthDate: o.patientBirthDate ?? '19010101',
    accessionNumber: o.accessionNumber ?? 'CANARYACC001',
    modality: o.modality ?? (sopClassUid === SopClass.CT ? 'CT' : 'OT'),
    instanceNumber: o.instanceNumber ?? 1,
    rows: o.rows ?? 64,
    columns: o.columns ?? 64,
    bitsAllocated,
    bitsStored: o.bitsStored ?? bitsAllocated,
    samplesPerPixel,
    photometricInterpretation: o.photometricInterpretation ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2'),
    numberOfFrames: o.numberOfFrames ?? 1,
    pixels: o.pixels,
    seed: o.seed,
  };
}

// ---------------------------------------------------------------------------
// Element encoding (Explicit VR Little Endian)

/** VRs whose explicit-VR header is 12 bytes (2 reserved + 32-bit length). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT']);
const UNDEFINED_LENGTH = 0xffffffff;

function elementHeader(group: number, element: number, vr: string, length: number): Buffer {
  if (LONG_VRS.has(vr)) {
    const b = Buffer.alloc(12);
    b.writeUInt16LE(group, 0);
    b.writeUInt16LE(element, 2);
    b.write(vr, 4, 'latin1');
    b.writeUInt32LE(length, 8);
    return b;
  }
  if (length > 0xffff) throw new Error(`value too long for ${vr}: ${length}`);
  const b = Buffer.alloc(8);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.write(vr, 4, 'latin1');
  b.writeUInt16LE(length, 6);
  return b;
}

/** Text VRs pad to even length with a space, UI with NUL (PS3.5 §6.2). */
function stringElement(group: number, element: number, vr: string, value: string): Buffer {
  let v = Buffer.from(value, 'latin1');
  if (v.length % 2) v = Buffer.concat([v, Buffer.from(vr === 'UI' ? '\0' : ' ', 'latin1')]);
  return Buffer.concat([elementHeader(group, element, vr, v.length), v]);
}

function usElement(group: number, element: number, value: number): Buffer {
  const v = Buffer.alloc(2);
  v.writeUInt16LE(value);
  return Buffer.concat([elementHeader(group, element, 'US', 2), v]);
}

function binaryElement(group: number, element: number, vr: string, value: Uint8Array): Buffer {
  const padded = value.length % 2 ? Buffer.concat([value, Buffer.alloc(1)]) : Buffer.from(value);
  return Buffer.concat([elementHeader(group, element, vr, padded.length), padded]);
}

/** Preamble + "DICM" + File Meta Information group (with its group length). */
export function fileMetaBytes(sopClassUid: string, sopInstanceUid: string, transferSyntaxUid: string): Buffer {
  const body = Buffer.concat([
    binaryElement(0x0002, 0x0001, 'OB', Uint8Array.of(0, 1)),
    stringElement(0x0002, 0x0002, 'UI', sopClassUid),
    stringElement(0x0002, 0x0003, 'UI', sopInstanceUid),
    stringElement(0x0002, 0x0010, 'UI', transferSyntaxUid),
    stringElement(0x0002, 0x0012, 'UI', IMPLEMENTATION_CLASS_UID),
    stringElement(0x0002, 0x0013, 'SH', IMPLEMENTATION_VERSION_NAME),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    elementHeader(0x0002, 0x0000, 'UL', 4),
    groupLength,
    body,
  ]);
}

/** Every data set element before (7FE0,0010), in ascending tag order. */
function headerElements(r: Resolved): Buffer {
  const isCt = r.sopClassUid === SopClass.CT;
  const parts: Buffer[] = [
    stringElement(0x0008, 0x0008, 'CS', isCt ? 'ORIGINAL\\PRIMARY\\AXIAL' : 'DERIVED\\SECONDARY'),
    stringElement(0x0008, 0x0016, 'UI', r.sopClassUid),
    stringElement(0x0008, 0x0018, 'UI', r.sopInstanceUid),
    stringElement(0x0008, 0x0020, 'DA', '20260101'),
    stringElement(0x0008, 0x0030, 'TM', '120000'),
    stringElement(0x0008, 0x0050, 'SH', r.accessionNumber),
    stringElement(0x0008, 0x0060, 'CS', r.modality),
  ];
  if (!isCt) parts.push(stringElement(0x0008, 0x0064, 'CS', 'WSD'));
  parts.push(
    stringElement(0x0010, 0x0010, 'PN', r.patientName),
    stringElement(0x0010, 0x0020, 'LO', r.patientId),
    stringElement(0x0010, 0x0030, 'DA', r.patientBirthDate),
    stringElement(0x0010, 0x0040, 'CS', 'O'),
    stringElement(0x0020, 0x000d, 'UI', r.studyInstanceUid),
    stringElement(0x0020, 0x000e, 'UI', r.seriesInstanceUid),
    stringElement(0x0020, 0x0010, 'SH', 'STUDY1'),
    stringElement(0x0020, 0x0011, 'IS', '1'),
    stringElement(0x0020, 0x0013, 'IS', String(r.instanceNumber)),
    usElement(0x0028, 0x0002, r.samplesPerPixel),
    stringElement(0x0028, 0x0004, 'CS', r.photometricInterpretation),
  );
  if (r.samplesPerPixel > 1) parts.push(usElement(0x0028, 0x0006, 0));
  if (r.numberOfFrames > 1 || r.sopClassUid.startsWith(`${SopClass.SecondaryCapture}.`)) {
    parts.push(stringElement(0x0028, 0x0008, 'IS', String(r.numberOfFrames)));
  }
  parts.push(
    usElement(0x0028, 0x0010, r.rows),
    usElement(0x0028, 0x0011, r.columns),
    usElement(0x0028, 0x0100, r.bitsAllocated),
    usElement(0x0028, 0x0101, r.bitsStored),
    usElement(0x0028, 0x0102, r.bitsStored - 1),
    usElement(0x0028, 0x0103, 0),
  );
  if (isCt) {
    parts.push(stringElement(0x0028, 0x1052, 'DS', '-1024'), stringElement(0x0028, 0x1053, 'DS', '1'));
  }
  return Buffer.concat(parts);
}

export function frameBytes(r: Pick<Resolved, 'rows' | 'columns' | 'bitsAllocated' | 'samplesPerPixel'>): number {
  return r.rows * r.columns * r.samplesPerPixel * (r.bitsAllocated / 8);
}

/**
 * Fills `out` with deterministic bytes for frame `frame`. 'random' is
 * xorshift32 noise (incompressible: realistic for transport sizes); 'pattern'
 * is a smooth gradient (compressible: makes JPEG encoders fast and lossy
 * output meaningful). Values are masked to bitsStored.
 */
export function fillFrame(out: Buffer, frame: number, r: Pick<Resolved, 'columns' | 'bitsAllocated' | 'bitsStored' | 'samplesPerPixel'>, kind: 'random' | 'pattern', seed = 1): void {
  if (kind === 'random') {
    // Seed mixes frame index so frames differ; never 0 (xorshift fixed point).
    let x = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(frame + 1, 0xc2b2ae35)) >>> 0 || 1;
    const words = Math.floor(out.length / 4);
    // A Uint32Array view is ~3x faster (matters for GiB files) but needs 4-byte alignment.
    const u32 = out.byteOffset % 4 === 0 ? new Uint32Array(out.buffer, out.byteOffset, words) : undefined;
    for (let i = 0; i < words; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      if (u32) u32[i] = x >>> 0;
      else out.writeUInt32LE(x >>> 0, i * 4);
    }
    for (let i = words * 4; i < out.length; i++) out[i] = (x >>> (8 * (i % 4))) & 0xff;
  } else {
    const bytesPerSample = r.bitsAllocated / 8;
    const rowBytes = r.columns * r.samplesPerPixel * bytesPerSample;
    const samples = out.length / bytesPerSample;
    for (let s = 0; s < samples; s++) {
      const y = Math.floor((s * bytesPerSample) / rowBytes);
      const xcol = Math.floor(((s * bytesPerSample) % rowBytes) / (bytesPerSample * r.samplesPerPixel));
      const v = (xcol * 4 + y * 2 + frame * 16) & 0xffff;
      if (bytesPerSample === 1) out[s] = v & 0xff;
      else out.writeUInt16LE(v, s * 2);
    }
  }
  if (r.bitsAllocated === 16 && r.bitsStored < 16) {
    const mask = (1 << r.bitsStored) - 1;
    for (let i = 0; i + 1 < out.length; i += 2) out.writeUInt16LE(out.readUInt16LE(i) & mask, i);
  }
}

function pixelData(r: Resolved): Buffer {
  if (r.pixels instanceof Uint8Array) return Buffer.from(r.pixels);
  const fb = frameBytes(r);
  const all = Buffer.alloc(fb * r.numberOfFrames);
  for (let f = 0; f < r.numberOfFrames; f++) fillFrame(all.subarray(f * fb, (f + 1) * fb), f, r, r.pixels ?? 'random', r.seed);
  return all;
}

function info(path: string, r: Resolved, ts: string, fileBytes: number, dataSetSha256: string): InstanceInfo {
  return {
    path,
    transferSyntaxUid: ts,
    sopClassUid: r.sopClassUid,
    studyInstanceUid: r.studyInstanceUid,
    seriesInstanceUid: r.seriesInstanceUid,
    sopInstanceUid: r.sopInstanceUid,
    patientName: r.patientName,
    patientId: r.patientId,
    patientBirthDate: r.patientBirthDate,
    accessionNumber: r.accessionNumber,
    fileBytes,
    dataSetSha256,
  };
}

// ---------------------------------------------------------------------------
// Writers

/** Builds a native (uncompressed) Explicit VR LE instance in memory. */
export function buildInstance(options: InstanceOptions = {}): { bytes: Buffer; info: Omit<InstanceInfo, 'path'> } {
  const r = resolve(options);
  const ts = TransferSyntax.ExplicitVRLittleEndian;
  const px = pixelData(r);
  const dataSet = Buffer.concat([
    headerElements(r),
    binaryElement(0x7fe0, 0x0010, r.bitsAllocated === 16 ? 'OW' : 'OB', px),
  ]);
  const bytes = Buffer.concat([fileMetaBytes(r.sopClassUid, r.sopInstanceUid, ts), dataSet]);
  const { path: _unused, ...rest } = info('', r, ts, bytes.length, createHash('sha256').update(dataSet).digest('hex'));
  return { bytes, info: rest };
}

/** Writes a native Explicit VR LE instance (small/medium: built in memory). */
export async function writeInstance(path: string, options: InstanceOptions = {}): Promise<InstanceInfo> {
  const { bytes, info: i } = buildInstance(options);
  await writeFile(path, bytes);
  return { path, ...i };
}

async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/**
 * Streams a huge multi-frame native instance (e.g. >= 1 GiB) to disk one
 * frame at a time: memory stays at one frame regardless of file size.
 * Pixel data length must fit a 32-bit defined length (< 4 GiB).
 */
export async function writeLargeInstance(
  path: string,
  options: InstanceOptions & { numberOfFrames: number },
): Promise<InstanceInfo> {
  const r = resolve({ sopClassUid: SopClass.MultiFrameGrayscaleByteSC, rows: 1024, columns: 1024, ...options });
  const ts = TransferSyntax.ExplicitVRLittleEndian;
  const fb = frameBytes(r);
  const pixelBytes = fb * r.numberOfFrames;
  if (pixelBytes % 2 || pixelBytes >= UNDEFINED_LENGTH) throw new Error(`pixel data length ${pixelBytes} not encodable`);
  const dataSetHash = createHash('sha256');
  const meta = fileMetaBytes(r.sopClassUid, r.sopInstanceUid, ts);
  const head = Buffer.concat([headerElements(r), elementHeader(0x7fe0, 0x0010, r.bitsAllocated === 16 ? 'OW' : 'OB', pixelBytes)]);
  const fh = await open(path, 'w');
  try {
    await writeAll(fh, meta);
    await writeAll(fh, head);
    dataSetHash.update(head);
    const frame = Buffer.alloc(fb);
    for (let f = 0; f < r.numberOfFrames; f++) {
      fillFrame(frame, f, r, r.pixels instanceof Uint8Array ? 'random' : (r.pixels ?? 'random'), r.seed);
      dataSetHash.update(frame);
      await writeAll(fh, frame);
    }
  } finally {
    await fh.close();
  }
  return info(path, r, ts, meta.length + head.length + pixelBytes, dataSetHash.digest('hex'));
}

/** Per-codec first bytes, so fragments look plausible in a hex dump; the content is otherwise arbitrary. */
const FRAGMENT_MAGIC: Record<string, number[]> = {
  [TransferSyntax.Jpeg2000Lossless]: [0xff, 0x4f, 0xff, 0x51],
  [TransferSyntax.Jpeg2000]: [0xff, 0x4f, 0xff, 0x51],
  [TransferSyntax.HtJ2kLossless]: [0xff, 0x4f, 0xff, 0x51],
  [TransferSyntax.HtJ2kLosslessRpcl]: [0xff, 0x4f, 0xff, 0x51],
  [TransferSyntax.HtJ2k]: [0xff, 0x4f, 0xff, 0x51],
  [TransferSyntax.Mpeg2MainProfile]: [0x00, 0x00, 0x01, 0xb3],
  [TransferSyntax.Mpeg4HighProfile]: [0x00, 0x00, 0x00, 0x01, 0x67],
  [TransferSyntax.HevcMainProfile]: [0x00, 0x00, 0x00, 0x01, 0x40, 0x01],
};

/** Video transfer syntaxes carry one stream for all frames and an empty Basic Offset Table. */
const VIDEO_TS = new Set<string>([TransferSyntax.Mpeg2MainProfile, TransferSyntax.Mpeg4HighProfile, TransferSyntax.HevcMainProfile]);

function itemBytes(value: Uint8Array): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(0xfffe, 0);
  h.writeUInt16LE(0xe000, 2);
  h.writeUInt32LE(value.length, 4);
  return Buffer.concat([h, value]);
}

/**
 * Writes an encapsulated-pixel-data instance with an arbitrary transfer
 * syntax: a Basic Offset Table (frame offsets; empty for video) followed by
 * fragments of pseudo-random bytes. Receivers must not decode pixel data, so
 * such files are valid transport test inputs for codecs dcmtk cannot encode.
 */
export async function writeEncapsulatedInstance(
  path: string,
  options: InstanceOptions & { transferSyntaxUid: string; fragmentsPerFrame?: number; fragmentBytes?: number },
): Promise<InstanceInfo> {
  const r = resolve({ numberOfFrames: 2, ...options });
  const ts = options.transferSyntaxUid;
  const video = VIDEO_TS.has(ts);
  const fragmentsPerFrame = options.fragmentsPerFrame ?? 2;
  const fragmentBytes = (options.fragmentBytes ?? 4096) & ~1; // item lengths must be even
  const magic = FRAGMENT_MAGIC[ts] ?? [];
  const frames = video ? 1 : r.numberOfFrames;
  const fragments: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (let f = 0; f < frames; f++) {
    offsets.push(offset);
    for (let k = 0; k < fragmentsPerFrame; k++) {
      const frag = Buffer.alloc(fragmentBytes);
      fillFrame(frag, f * fragmentsPerFrame + k, { columns: 1, bitsAllocated: 8, bitsStored: 8, samplesPerPixel: 1 }, 'random', r.seed);
      if (k === 0) Buffer.from(magic).copy(frag);
      const item = itemBytes(frag);
      fragments.push(item);
      offset += item.length;
    }
  }
  const bot = Buffer.alloc(video ? 0 : 4 * frames);
  if (!video) offsets.forEach((o, i) => bot.writeUInt32LE(o, i * 4));
  const seqDelim = Buffer.alloc(8);
  seqDelim.writeUInt16LE(0xfffe, 0);
  seqDelim.writeUInt16LE(0xe0dd, 2);
  const dataSet = Buffer.concat([
    headerElements(r),
    elementHeader(0x7fe0, 0x0010, 'OB', UNDEFINED_LENGTH),
    itemBytes(bot),
    ...fragments,
    seqDelim,
  ]);
  const bytes = Buffer.concat([fileMetaBytes(r.sopClassUid, r.sopInstanceUid, ts), dataSet]);
  await writeFile(path, bytes);
  return info(path, r, ts, bytes.length, createHash('sha256').update(dataSet).digest('hex'));
}

// ---------------------------------------------------------------------------
// Readers

/**
 * Offset of the data set in a Part 10 file: 128-byte preamble, "DICM",
 * then (0002,0000) UL whose value is the length of the rest of group 0002.
 */
export function dataSetOffset(head: Buffer): number {
  if (head.length < 144 || head.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a DICOM Part 10 file (no DICM prefix)');
  if (head.readUInt16LE(132) !== 0x0002 || head.readUInt16LE(134) !== 0x0000 || head.toString('latin1', 136, 138) !== 'UL') {
    throw new Error('File Meta group does not start with (0002,0000) UL group length');
  }
  return 144 + head.readUInt32LE(140);
}

/** The data set bytes of a Part 10 file: everything after the File Meta group. */
export async function readDataSet(path: string): Promise<Buffer> {
  const bytes = await readFile(path);
  return bytes.subarray(dataSetOffset(bytes));
}

/**
 * The data set bytes, inflated when the file is Deflated Explicit VR LE.
 * Deflate output is not canonical: a sender that re-deflates (storescu
 * does, with flush points that depend on its buffering) produces different
 * bytes for the same content, so compare deflated instances with this.
 */
export async function readInflatedDataSet(path: string): Promise<Buffer> {
  const ds = await readDataSet(path);
  return (await readMeta(path)).transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian ? inflateRawSync(ds) : ds;
}

/** SHA-256 of the data set, streamed (for files too big to read whole). */
export async function hashDataSet(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(144);
    await fh.read(head, 0, 144, 0);
    let pos = dataSetOffset(head);
    const hash = createHash('sha256');
    const buf = Buffer.alloc(8 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}

export interface FileMeta {
  /** Every (0002,xxxx) element keyed "0002XXXX" (upper-case hex); UIDs/text trimmed, UL as decimal, OB as hex. */
  elements: Record<string, string>;
  transferSyntaxUid: string;
  mediaStorageSopClassUid: string;
  mediaStorageSopInstanceUid: string;
  implementationClassUid: string;
}

/** Parses the File Meta Information group of a Part 10 file. */
export async function readMeta(path: string): Promise<FileMeta> {
  const fh = await open(path, 'r');
  let bytes: Buffer;
  try {
    const head = Buffer.alloc(144);
    await fh.read(head, 0, 144, 0);
    const end = dataSetOffset(head);
    bytes = Buffer.alloc(end);
    await fh.read(bytes, 0, end, 0);
  } finally {
    await fh.close();
  }
  const elements: Record<string, string> = {};
  let pos = 132;
  while (pos < bytes.length) {
    const group = bytes.readUInt16LE(pos);
    const element = bytes.readUInt16LE(pos + 2);
    const vr = bytes.toString('latin1', pos + 4, pos + 6);
    let length: number;
    if (LONG_VRS.has(vr)) {
      length = bytes.readUInt32LE(pos + 8);
      pos += 12;
    } else {
      length = bytes.readUInt16LE(pos + 6);
      pos += 8;
    }
    const value = bytes.subarray(pos, pos + length);
    pos += length;
    const key = `${group.toString(16).padStart(4, '0')}${element.toString(16).padStart(4, '0')}`.toUpperCase();
    if (vr === 'UL') elements[key] = String(value.readUInt32LE(0));
    else if (vr === 'OB' || vr === 'UN') elements[key] = value.toString('hex');
    else elements[key] = value.toString('latin1').replace(/[\0 ]+$/, '');
  }
  return {
    elements,
    transferSyntaxUid: elements['00020010'] ?? '',
    mediaStorageSopClassUid: elements['00020002'] ?? '',
    mediaStorageSopInstanceUid: elements['00020003'] ?? '',
    implementationClassUid: elements['00020012'] ?? '',
  };
}
