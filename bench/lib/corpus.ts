// The benchmark corpora, generated on every run into a scratch directory from
// the test support layer's synthetic Part 10 writer (and dcmtk's dcmcjpeg for
// JPEG Lossless): nothing binary is checked in, and every instance has its own
// SOP Instance UID so each one is a separate object at every receiver.
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { dcmtkConvert } from '../../test/support/dcmtk.ts';
import { newUid, readMeta, SopClass, TransferSyntax, writeInstance, writeLargeInstance, type InstanceOptions } from '../../test/support/dicom-file.ts';

export interface CorpusFile {
  path: string;
  bytes: number;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  transferSyntaxUid: string;
}

export interface FileSet {
  files: CorpusFile[];
  /** One more instance of the same kind, sent before each measured run and not counted. */
  warmup: CorpusFile;
  /** What the set is, for the report. */
  description: string;
}

export interface CorpusCounts {
  small: number;
  ct: number;
  ctJpeg: number;
  /** Frames of 512x512x16-bit: 286 = 150 MB. */
  mf150Frames: number;
  /** Frames of 1024x1024x8-bit: 2048 = 2 GiB. */
  mf2gFrames: number;
}

export const FULL_COUNTS: CorpusCounts = { small: 500, ct: 200, ctJpeg: 200, mf150Frames: 286, mf2gFrames: 2048 };
export const SMOKE_COUNTS: CorpusCounts = { small: 20, ct: 16, ctJpeg: 8, mf150Frames: 23, mf2gFrames: 24 };

export interface Corpus {
  small: FileSet;
  ct: FileSet;
  ctJpeg: FileSet;
  mf150: FileSet;
  mf2g: FileSet;
}

export type SetName = keyof Corpus;

/** A set that was not generated (not needed by the selected workloads). */
function missing(name: SetName): FileSet {
  return {
    get files(): CorpusFile[] {
      throw new Error(`corpus set ${name} was not generated`);
    },
    get warmup(): CorpusFile {
      throw new Error(`corpus set ${name} was not generated`);
    },
    description: `${name} (not generated)`,
  };
}

/**
 * A CT-like 512x512 slice, 12 bits stored: a body disc with an inner structure
 * on air, a slow gradient, and 5 bits of noise. JPEG Lossless compresses it
 * about 2.5:1, close to real CT (pure noise would not compress; a smooth
 * gradient would compress 20:1 and flatter the compressed workload).
 */
function ctPixels(seed: number): Uint8Array {
  const px = Buffer.alloc(512 * 512 * 2);
  let x = (Math.imul(seed + 1, 0x9e3779b1) >>> 0) || 1;
  for (let row = 0; row < 512; row++) {
    for (let col = 0; col < 512; col++) {
      const dx = col - 256;
      const dy = row - 256;
      const r2 = dx * dx + dy * dy;
      let base = 24; // air: -1000 HU with rescale intercept -1024
      if (r2 < 220 * 220) base = 1000 + ((row + col) >> 3);
      if (r2 < 60 * 60) base += 300;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      px.writeUInt16LE((base + ((x >>> 0) & 31)) & 0x0fff, (row * 512 + col) * 2);
    }
  }
  return px;
}

async function describe(path: string, info: { sopClassUid: string; sopInstanceUid: string; studyInstanceUid: string; seriesInstanceUid: string }): Promise<CorpusFile> {
  const meta = await readMeta(path);
  if (meta.mediaStorageSopInstanceUid !== info.sopInstanceUid) throw new Error(`corpus: ${path} has an unexpected SOP Instance UID`);
  return {
    path,
    bytes: (await stat(path)).size,
    sopClassUid: info.sopClassUid,
    sopInstanceUid: info.sopInstanceUid,
    studyInstanceUid: info.studyInstanceUid,
    seriesInstanceUid: info.seriesInstanceUid,
    transferSyntaxUid: meta.transferSyntaxUid,
  };
}

/** Runs `jobs` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, job: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await job(items[i]!, i);
    }
  }));
}

async function nativeSet(dir: string, count: number, options: (i: number) => InstanceOptions): Promise<CorpusFile[]> {
  await mkdir(dir, { recursive: true });
  const study = newUid();
  const series = newUid();
  const out: CorpusFile[] = [];
  for (let i = 0; i < count; i++) {
    const path = join(dir, `${String(i).padStart(4, '0')}.dcm`);
    const info = await writeInstance(path, { studyInstanceUid: study, seriesInstanceUid: series, instanceNumber: i + 1, ...options(i) });
    out.push(await describe(path, info));
  }
  return out;
}

const SMALL: (i: number) => InstanceOptions = (i) => ({ rows: 64, columns: 64, bitsAllocated: 16, seed: i + 1 });
const CT: (i: number) => InstanceOptions = (i) => ({ sopClassUid: SopClass.CT, rows: 512, columns: 512, bitsAllocated: 16, bitsStored: 12, pixels: ctPixels(i) });

/** Generates every corpus under `dir` (about 30 s for the full counts, most of it the 2 GiB file and dcmcjpeg). */
export async function buildCorpus(dir: string, counts: CorpusCounts, log: (line: string) => void, want: ReadonlySet<SetName>): Promise<Corpus> {
  const t0 = Date.now();
  const smallAll = await nativeSet(join(dir, 'small'), want.has('small') ? counts.small + 1 : 1, SMALL);
  // Always made: CT slices are the warm-up of the multi-frame workloads.
  const ctAll = await nativeSet(join(dir, 'ct'), want.has('ct') ? counts.ct + 1 : 1, CT);
  log(`corpus: ${smallAll.length - 1} small and ${ctAll.length - 1} CT instances in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // JPEG Lossless (process 14 SV1) made by dcmtk from separate native sources, so UIDs differ from the CT set.
  const t1 = Date.now();
  const jpegSources = await nativeSet(join(dir, 'ct-jpeg-src'), want.has('ctJpeg') ? counts.ctJpeg + 1 : 0, (i) => CT(i + 1000));
  await mkdir(join(dir, 'ct-jpeg'), { recursive: true });
  const ctJpegAll: CorpusFile[] = new Array(jpegSources.length);
  await pool(jpegSources, 2, async (src, i) => {
    const path = join(dir, 'ct-jpeg', `${String(i).padStart(4, '0')}.dcm`);
    await dcmtkConvert('dcmcjpeg', [src.path, path]);
    const file = await describe(path, src);
    if (file.transferSyntaxUid !== TransferSyntax.JpegLosslessSV1) throw new Error(`corpus: dcmcjpeg wrote ${file.transferSyntaxUid}`);
    ctJpegAll[i] = file;
  });
  if (ctJpegAll.length) log(`corpus: ${ctJpegAll.length - 1} JPEG Lossless CT instances in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

  const t2 = Date.now();
  await mkdir(join(dir, 'mf'), { recursive: true });
  const mf150Info = want.has('mf150')
    ? await writeLargeInstance(join(dir, 'mf', 'mf150.dcm'), { sopClassUid: SopClass.MultiFrameGrayscaleWordSC, rows: 512, columns: 512, bitsAllocated: 16, numberOfFrames: counts.mf150Frames })
    : undefined;
  const mf150 = mf150Info && (await describe(mf150Info.path, mf150Info));
  const mf2gInfo = want.has('mf2g')
    ? await writeLargeInstance(join(dir, 'mf', 'mf2g.dcm'), { sopClassUid: SopClass.MultiFrameGrayscaleByteSC, rows: 1024, columns: 1024, bitsAllocated: 8, numberOfFrames: counts.mf2gFrames })
    : undefined;
  const mf2g = mf2gInfo && (await describe(mf2gInfo.path, mf2gInfo));
  if (mf150 || mf2g) log(`corpus: multi-frame instances in ${((Date.now() - t2) / 1000).toFixed(1)} s`);

  const avg = (files: CorpusFile[]) => files.reduce((s, f) => s + f.bytes, 0) / files.length / 1000;
  const set = (all: CorpusFile[], description: string): FileSet => ({ files: all.slice(1), warmup: all[0]!, description });
  const ctWarmup = ctAll[0]!;
  return {
    small: want.has('small') ? set(smallAll, `${smallAll.length - 1} × ${avg(smallAll.slice(1)).toFixed(1)} KB (64×64 16-bit SC, Explicit VR LE)`) : missing('small'),
    ct: want.has('ct') ? set(ctAll, `${ctAll.length - 1} × ${avg(ctAll.slice(1)).toFixed(0)} KB (CT 512×512 16-bit, Explicit VR LE)`) : missing('ct'),
    ctJpeg: want.has('ctJpeg') ? set(ctJpegAll, `${ctJpegAll.length - 1} × ${avg(ctJpegAll.slice(1)).toFixed(0)} KB (the same kind of CT, JPEG Lossless SV1 by dcmcjpeg)`) : missing('ctJpeg'),
    // Large instances warm up with a CT slice: the same code paths up to the multipart threshold.
    mf150: mf150 ? { files: [mf150], warmup: ctWarmup, description: `1 × ${(mf150.bytes / 1e6).toFixed(0)} MB (${counts.mf150Frames}-frame 512×512 16-bit SC)` } : missing('mf150'),
    mf2g: mf2g ? { files: [mf2g], warmup: ctWarmup, description: `1 × ${(mf2g.bytes / 2 ** 30).toFixed(2)} GiB (${counts.mf2gFrames}-frame 1024×1024 8-bit SC)` } : missing('mf2g'),
  };
}
