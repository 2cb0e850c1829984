/** This product's identity in File Meta Information and association negotiation. */
// A UUID-derived UID (PS3.5 B.2): unique without a registered root.
export const IMPLEMENTATION_CLASS_UID = '2.25.192131475318261255956324099524571030346';
export const IMPLEMENTATION_VERSION_NAME = 'DICOMS3_010';

export interface FileMetaFields {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  readonly sourceAeTitle: string;
}

/** UIDs pad to even length with NUL; text with a space (PS3.5 6.2). */
function padded(value: string, pad: 0x00 | 0x20): Buffer {
  const bytes = Buffer.from(value, 'ascii');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.of(pad)]);
}

function element(group: number, elementNumber: number, vr: string, value: Buffer): Buffer {
  const longForm = vr === 'OB';
  const header = Buffer.alloc(longForm ? 12 : 8);
  header.writeUInt16LE(group, 0);
  header.writeUInt16LE(elementNumber, 2);
  header.write(vr, 4, 'ascii');
  if (longForm) header.writeUInt32LE(value.length, 8);
  else header.writeUInt16LE(value.length, 6);
  return Buffer.concat([header, value]);
}

/**
 * The 128-byte preamble, `DICM` and the File Meta Information group (PS3.10 7.1), always in
 * explicit VR little endian. The data set that follows stays byte for byte as received.
 */
export function buildPart10Header(fields: FileMetaFields): Buffer {
  const body = Buffer.concat([
    element(0x0002, 0x0001, 'OB', Buffer.of(0x00, 0x01)),
    element(0x0002, 0x0002, 'UI', padded(fields.sopClassUid, 0x00)),
    element(0x0002, 0x0003, 'UI', padded(fields.sopInstanceUid, 0x00)),
    element(0x0002, 0x0010, 'UI', padded(fields.transferSyntaxUid, 0x00)),
    element(0x0002, 0x0012, 'UI', padded(IMPLEMENTATION_CLASS_UID, 0x00)),
    element(0x0002, 0x0013, 'SH', padded(IMPLEMENTATION_VERSION_NAME, 0x20)),
    element(0x0002, 0x0016, 'AE', padded(fields.sourceAeTitle, 0x20)),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'ascii'), element(0x0002, 0x0000, 'UL', groupLength), body]);
}
