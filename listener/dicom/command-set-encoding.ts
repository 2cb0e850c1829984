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

/**
 * dcmjs-dimse's own code, step for step, except that its two streams start at 1 KiB instead
 * of dcmjs's default 256 KiB: it encodes every DIMSE message it sends this way, and two
 * 256 KiB buffers per ~100-byte response dominated its cost and fed the garbage collector.
 */
function getDenaturalizedCommandDataset(this: Dataset, writeOptions?: Elements): Buffer {
  const elements = DicomMetaDictionary.denaturalizeDataset(this.getElements());
  const groupLength = new WriteBufferStream(CHUNK_BYTES);
  const commands = new WriteBufferStream(CHUNK_BYTES);
  DicomMessage.write(elements, commands, IMPLICIT_VR_LITTLE_ENDIAN, writeOptions);
  DicomMessage.writeTagObject(groupLength, '00000000', 'UL', commands.size, IMPLICIT_VR_LITTLE_ENDIAN, writeOptions);
  groupLength.concat(commands);
  return Buffer.from(groupLength.getBuffer());
}

/** Replaces dcmjs-dimse's command set encoder with the compact one; calling it again changes nothing. */
export function installCompactCommandSetEncoding(): void {
  dimse.Dataset.prototype.getDenaturalizedCommandDataset = getDenaturalizedCommandDataset;
}
