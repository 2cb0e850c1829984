// A DICOM test corpus on disk: small native instances, a CT slice, a
// multi-frame, the same kind of image transcoded by dcmtk into every transfer
// syntax dcmtk 3.6.7 can write, and synthetic encapsulated files for the
// codecs it cannot encode (JPEG 2000, HTJ2K, MPEG-2/4, HEVC).
//
// Every entry has its own SOP Instance UID (transcoded variants are made
// from separate sources), so a receiver keyed by UID stores each one
// separately. All entries share one Study Instance UID.
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { dcmtkConvert } from './dcmtk.ts';
import {
  hashDataSet,
  newUid,
  readMeta,
  SopClass,
  TransferSyntax,
  writeEncapsulatedInstance,
  writeInstance,
  type InstanceInfo,
  type InstanceOptions,
} from './dicom-file.ts';
import { makeWorkDir } from './work-dir.ts';

export interface CorpusEntry extends InstanceInfo {
  /** Short unique name, also the file's base name. */
  name: string;
  /** How it was produced (e.g. "dcmcjpeg +eb", "synthetic"). */
  producer: string;
}

export interface Corpus {
  dir: string;
  studyInstanceUid: string;
  /** `smallCount` 64x64 8-bit Secondary Capture instances in one series (Explicit VR LE). */
  small: CorpusEntry[];
  /** CT 512x512, 16 bits allocated / 12 stored (Explicit VR LE). */
  ct: CorpusEntry;
  /** 10-frame 128x128 8-bit multi-frame SC (Explicit VR LE). */
  multiFrame: CorpusEntry;
  /** dcmtk-transcoded variants, one per transfer syntax. */
  transcoded: CorpusEntry[];
  /** Synthetic encapsulated files for TSs dcmtk 3.6.7 cannot encode. */
  synthetic: CorpusEntry[];
  /** Everything above. */
  all: CorpusEntry[];
}

export interface CorpusOptions {
  dir?: string;
  smallCount?: number;
  /** PHI canary values etc. applied to every instance. */
  common?: Omit<InstanceOptions, 'studyInstanceUid' | 'seriesInstanceUid' | 'sopInstanceUid'>;
}

interface Variant {
  name: string;
  ts: string;
  tool: string;
  args: string[];
  source: InstanceOptions;
}

const CT_SOURCE: InstanceOptions = { sopClassUid: SopClass.CT, rows: 512, columns: 512, bitsAllocated: 16, bitsStored: 12, pixels: 'pattern' };
/** JPEG baseline is 8-bit only. */
const SC8_SOURCE: InstanceOptions = { rows: 256, columns: 256, bitsAllocated: 8, pixels: 'pattern' };

const VARIANTS: Variant[] = [
  { name: 'ct-implicit-le', ts: TransferSyntax.ImplicitVRLittleEndian, tool: 'dcmconv', args: ['+ti'], source: CT_SOURCE },
  { name: 'ct-explicit-be', ts: TransferSyntax.ExplicitVRBigEndian, tool: 'dcmconv', args: ['+tb'], source: CT_SOURCE },
  { name: 'ct-deflated', ts: TransferSyntax.DeflatedExplicitVRLittleEndian, tool: 'dcmconv', args: ['+td'], source: CT_SOURCE },
  { name: 'ct-jpeg-lossless', ts: TransferSyntax.JpegLosslessSV1, tool: 'dcmcjpeg', args: [], source: CT_SOURCE },
  // +un keeps our SOP Instance UID (dcmcjpeg assigns a new one for lossy output by default).
  { name: 'sc-jpeg-baseline', ts: TransferSyntax.JpegBaseline, tool: 'dcmcjpeg', args: ['+eb', '+un'], source: SC8_SOURCE },
  { name: 'ct-jpeg-ls-lossless', ts: TransferSyntax.JpegLsLossless, tool: 'dcmcjpls', args: [], source: CT_SOURCE },
  { name: 'ct-rle', ts: TransferSyntax.Rle, tool: 'dcmcrle', args: [], source: CT_SOURCE },
];

const SYNTHETIC: { name: string; ts: string; source: InstanceOptions }[] = [
  { name: 'j2k-lossless', ts: TransferSyntax.Jpeg2000Lossless, source: { numberOfFrames: 2 } },
  { name: 'j2k', ts: TransferSyntax.Jpeg2000, source: { numberOfFrames: 2 } },
  { name: 'htj2k-lossless', ts: TransferSyntax.HtJ2kLossless, source: { numberOfFrames: 2 } },
  { name: 'htj2k-lossless-rpcl', ts: TransferSyntax.HtJ2kLosslessRpcl, source: { numberOfFrames: 2 } },
  { name: 'htj2k', ts: TransferSyntax.HtJ2k, source: { numberOfFrames: 2 } },
  ...[
    { name: 'mpeg2', ts: TransferSyntax.Mpeg2MainProfile },
    { name: 'mpeg4', ts: TransferSyntax.Mpeg4HighProfile },
    { name: 'hevc', ts: TransferSyntax.HevcMainProfile },
  ].map((v) => ({
    ...v,
    source: {
      sopClassUid: SopClass.VideoPhotographic,
      modality: 'XC',
      rows: 480,
      columns: 640,
      samplesPerPixel: 3 as const,
      photometricInterpretation: 'YBR_PARTIAL_420',
      numberOfFrames: 30,
    },
  })),
];

async function entryFrom(name: string, producer: string, path: string, base: InstanceInfo, expectedTs: string): Promise<CorpusEntry> {
  const meta = await readMeta(path);
  if (meta.transferSyntaxUid !== expectedTs) throw new Error(`corpus ${name}: expected TS ${expectedTs}, file has ${meta.transferSyntaxUid}`);
  if (meta.mediaStorageSopInstanceUid !== base.sopInstanceUid) throw new Error(`corpus ${name}: ${producer} changed the SOP Instance UID`);
  return { ...base, name, producer, path, transferSyntaxUid: expectedTs, fileBytes: (await stat(path)).size, dataSetSha256: await hashDataSet(path) };
}

/** Builds the full corpus (about 1 s; the dcmtk conversions dominate). */
export async function buildCorpus(opts: CorpusOptions = {}): Promise<Corpus> {
  const dir = opts.dir ?? (await makeWorkDir('corpus-'));
  const studyInstanceUid = newUid();
  const common = { ...opts.common, studyInstanceUid };
  const file = (name: string) => join(dir, `${name}.dcm`);
  // Transcoding sources go to a subdirectory so `dir` holds exactly the corpus.
  const srcDir = join(dir, 'sources');
  await mkdir(srcDir, { recursive: true });

  const smallSeries = newUid();
  const small: CorpusEntry[] = [];
  for (let i = 0; i < (opts.smallCount ?? 5); i++) {
    const name = `small-${String(i + 1).padStart(3, '0')}`;
    const info = await writeInstance(file(name), { ...common, seriesInstanceUid: smallSeries, instanceNumber: i + 1, seed: i + 1 });
    small.push({ ...info, name, producer: 'dicom-file.ts' });
  }

  const otherSeries = newUid();
  const ct: CorpusEntry = { ...(await writeInstance(file('ct'), { ...common, ...CT_SOURCE, seriesInstanceUid: otherSeries })), name: 'ct', producer: 'dicom-file.ts' };
  const multiFrame: CorpusEntry = {
    ...(await writeInstance(file('multiframe'), {
      ...common,
      sopClassUid: SopClass.MultiFrameGrayscaleByteSC,
      rows: 128,
      columns: 128,
      numberOfFrames: 10,
      seriesInstanceUid: otherSeries,
    })),
    name: 'multiframe',
    producer: 'dicom-file.ts',
  };

  const transcoded = await Promise.all(
    VARIANTS.map(async (v) => {
      const src = join(srcDir, `${v.name}.dcm`);
      const base = await writeInstance(src, { ...common, ...v.source, seriesInstanceUid: otherSeries });
      await dcmtkConvert(v.tool, [...v.args, src, file(v.name)]);
      return entryFrom(v.name, `${v.tool} ${v.args.join(' ')}`.trim(), file(v.name), base, v.ts);
    }),
  );

  const synthetic: CorpusEntry[] = [];
  for (const s of SYNTHETIC) {
    const info = await writeEncapsulatedInstance(file(s.name), { ...common, ...s.source, seriesInstanceUid: otherSeries, transferSyntaxUid: s.ts });
    synthetic.push({ ...info, name: s.name, producer: 'synthetic encapsulated' });
  }

  return { dir, studyInstanceUid, small, ct, multiFrame, transcoded, synthetic, all: [...small, ct, multiFrame, ...transcoded, ...synthetic] };
}
