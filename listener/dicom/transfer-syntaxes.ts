/**
 * Every standard transfer syntax this listener accepts. The listener never transcodes: the
 * data set is stored as it arrives, in the syntax negotiated for its presentation context.
 */
export const TRANSFER_SYNTAXES: readonly { readonly uid: string; readonly name: string }[] = [
  { uid: '1.2.840.10008.1.2.4.70', name: 'JPEG Lossless, First-Order Prediction (Process 14 SV1)' },
  { uid: '1.2.840.10008.1.2.4.57', name: 'JPEG Lossless (Process 14)' },
  { uid: '1.2.840.10008.1.2.4.80', name: 'JPEG-LS Lossless' },
  { uid: '1.2.840.10008.1.2.4.90', name: 'JPEG 2000 Lossless Only' },
  { uid: '1.2.840.10008.1.2.4.201', name: 'High-Throughput JPEG 2000 Lossless Only' },
  { uid: '1.2.840.10008.1.2.4.202', name: 'High-Throughput JPEG 2000 with RPCL Options Lossless Only' },
  { uid: '1.2.840.10008.1.2.4.110', name: 'JPEG XL Lossless' },
  { uid: '1.2.840.10008.1.2.4.111', name: 'JPEG XL JPEG Recompression' },
  { uid: '1.2.840.10008.1.2.5', name: 'RLE Lossless' },
  { uid: '1.2.840.10008.1.2.4.50', name: 'JPEG Baseline (Process 1)' },
  { uid: '1.2.840.10008.1.2.4.51', name: 'JPEG Extended (Process 2 & 4)' },
  { uid: '1.2.840.10008.1.2.4.81', name: 'JPEG-LS Lossy (Near-Lossless)' },
  { uid: '1.2.840.10008.1.2.4.91', name: 'JPEG 2000' },
  { uid: '1.2.840.10008.1.2.4.203', name: 'High-Throughput JPEG 2000' },
  { uid: '1.2.840.10008.1.2.4.112', name: 'JPEG XL' },
  { uid: '1.2.840.10008.1.2.4.92', name: 'JPEG 2000 Part 2 Multi-component Lossless Only' },
  { uid: '1.2.840.10008.1.2.4.93', name: 'JPEG 2000 Part 2 Multi-component' },
  { uid: '1.2.840.10008.1.2.4.100', name: 'MPEG2 Main Profile / Main Level' },
  { uid: '1.2.840.10008.1.2.4.101', name: 'MPEG2 Main Profile / High Level' },
  { uid: '1.2.840.10008.1.2.4.102', name: 'MPEG-4 AVC/H.264 High Profile / Level 4.1' },
  { uid: '1.2.840.10008.1.2.4.103', name: 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1' },
  { uid: '1.2.840.10008.1.2.4.104', name: 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video' },
  { uid: '1.2.840.10008.1.2.4.105', name: 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video' },
  { uid: '1.2.840.10008.1.2.4.106', name: 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2' },
  { uid: '1.2.840.10008.1.2.4.107', name: 'HEVC/H.265 Main Profile / Level 5.1' },
  { uid: '1.2.840.10008.1.2.4.108', name: 'HEVC/H.265 Main 10 Profile / Level 5.1' },
  { uid: '1.2.840.10008.1.2.1.99', name: 'Deflated Explicit VR Little Endian' },
  { uid: '1.2.840.10008.1.2.1', name: 'Explicit VR Little Endian' },
  { uid: '1.2.840.10008.1.2', name: 'Implicit VR Little Endian' },
  { uid: '1.2.840.10008.1.2.2', name: 'Explicit VR Big Endian (retired)' },
];

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';

const SUPPORTED = new Set(TRANSFER_SYNTAXES.map((ts) => ts.uid));
const UNCOMPRESSED = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);

/**
 * Picks the transfer syntax to accept from those proposed, or `undefined` when none is
 * supported. The preference keeps what the sender has:
 * 1. the first compressed (encapsulated or deflated) syntax the sender proposed: a sender
 *    only offers compression it holds, since producing it would cost it CPU, and the
 *    uncompressed syntaxes beside it are its fallback;
 * 2. otherwise the sender's first uncompressed syntax, its native byte order and VR form.
 * There is no ranking among compressed syntaxes, so lossy is never traded for lossless or
 * back.
 */
export function chooseTransferSyntax(proposed: readonly string[]): string | undefined {
  const supported = proposed.filter((uid) => SUPPORTED.has(uid));
  return supported.find((uid) => !UNCOMPRESSED.has(uid)) ?? supported[0];
}

/** Verification accepts only uncompressed syntaxes: C-ECHO carries no data set. */
export function chooseVerificationTransferSyntax(proposed: readonly string[]): string | undefined {
  return ['1.2.840.10008.1.2.1', IMPLICIT_VR_LITTLE_ENDIAN].find((uid) => proposed.includes(uid));
}
