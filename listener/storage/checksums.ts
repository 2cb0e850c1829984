import crypto from 'node:crypto';
import zlib from 'node:zlib';

function crcBase64(value: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0, 0);
  return bytes.toString('base64');
}

/**
 * Checksums computed as the bytes stream past, split at the same part boundaries the
 * multipart upload uses, so the listener can check what storage says it assembled against
 * what the listener itself sent: end to end, not just hop by hop.
 */
export class StreamChecksums {
  readonly #partSize: number;
  readonly #partMd5: boolean;
  #part = 0;
  #partFill = 0;
  #md5: crypto.Hash | undefined;
  readonly #partCrcs: number[] = [];
  readonly #partMd5s: Buffer[] = [];
  #bytes = 0;

  /**
   * CRC32 per part, which is also the whole object's CRC32 when it fits one part: one pass
   * over the bytes serves both S3's composite checksum and a single PutObject. MD5 per part
   * only where the multipart ETag or Content-MD5 is what storage can be checked against.
   */
  constructor(options: { partSize: number; partMd5: boolean }) {
    this.#partSize = options.partSize;
    this.#partMd5 = options.partMd5;
    this.#md5 = this.#partMd5 ? crypto.createHash('md5') : undefined;
  }

  update(chunk: Buffer): void {
    this.#bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.#partSize - this.#partFill, chunk.length - offset);
      const slice = offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take);
      this.#part = zlib.crc32(slice, this.#part);
      this.#md5?.update(slice);
      this.#partFill += take;
      offset += take;
      if (this.#partFill === this.#partSize) this.#closePart();
    }
  }

  #closePart(): void {
    this.#partCrcs.push(this.#part);
    if (this.#md5) this.#partMd5s.push(this.#md5.digest());
    this.#part = 0;
    this.#partFill = 0;
    this.#md5 = this.#partMd5 ? crypto.createHash('md5') : undefined;
  }

  /** CRC32 of an object that fits one part, base64 (the form of S3's x-amz-checksum-crc32). */
  singlePartCrc32(): string {
    this.#onePart();
    return crcBase64(this.#partCrcs[0] ?? 0);
  }

  /** MD5 of an object that fits one part; needs part MD5s to be kept. */
  singlePartMd5(): Buffer {
    if (!this.#partMd5) throw new Error('part MD5s are not kept');
    this.#onePart();
    return this.#partMd5s[0] ?? crypto.createHash('md5').digest();
  }

  #onePart(): void {
    this.#finishParts();
    if (this.#partCrcs.length > 1) throw new Error('the object has more than one part');
  }

  get bytes(): number {
    return this.#bytes;
  }

  #finishParts(): void {
    if (this.#partFill > 0) this.#closePart();
  }

  /** S3's composite checksum of a multipart object: CRC32 over the part CRC32s, then `-N`. */
  compositeCrc32(): string {
    this.#finishParts();
    const joined = Buffer.alloc(4 * this.#partCrcs.length);
    this.#partCrcs.forEach((crc, index) => joined.writeUInt32BE(crc >>> 0, index * 4));
    return `${crcBase64(zlib.crc32(joined))}-${this.#partCrcs.length}`;
  }

  /** The ETag S3 gives a multipart object: MD5 over the part MD5s, then `-N`. */
  multipartEtag(): string {
    this.#finishParts();
    const digest = crypto.createHash('md5').update(Buffer.concat(this.#partMd5s)).digest('hex');
    return `"${digest}-${this.#partMd5s.length}"`;
  }
}
