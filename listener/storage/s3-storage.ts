import { PassThrough, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ChecksumMode } from '../config.ts';
import { IntegrityError, StorageUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { StreamChecksums } from './checksums.ts';
import type { InstanceDescriptor, ObjectWriter, Storage, StoredObject } from './storage.ts';

export interface S3StorageOptions {
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  readonly kmsKeyId: string | undefined;
  readonly storageClass: string | undefined;
  readonly partSizeBytes: number;
  readonly queueSize: number;
  readonly checksumMode: ChecksumMode;
  readonly log: Logger;
}

/**
 * SigV4 would otherwise SHA-256 every body just to sign it. Each body already carries the
 * checksum that S3 verifies (Content-MD5 or x-amz-checksum-crc32), and the listener checks
 * what S3 reports back, so the signature need not cover the payload; TLS protects it in transit.
 */
const CONTENT_SHA256 = 'x-amz-content-sha256';

export function createS3Client(options: { forcePathStyle: boolean; checksumMode: ChecksumMode; requestTimeoutMs: number }): S3Client {
  const calculation = options.checksumMode === 'when-supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  const client = new S3Client({
    forcePathStyle: options.forcePathStyle,
    requestHandler: { connectionTimeout: 5000, requestTimeout: options.requestTimeoutMs },
    requestChecksumCalculation: calculation,
    responseChecksumValidation: calculation,
  });
  client.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (request.headers && ArrayBuffer.isView(request.body) && !request.headers[CONTENT_SHA256]) request.headers[CONTENT_SHA256] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'unsignedPayload' },
  );
  return client;
}

/** Abort retries after a failed upload: storage that just failed may need a while to come back. */
const ABORT_RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 16_000];

function isNoSuchUpload(error: unknown): boolean {
  return error instanceof S3ServiceException && (error.name === 'NoSuchUpload' || error.$metadata.httpStatusCode === 404);
}

function asStorageError(error: unknown): Error {
  if (error instanceof IntegrityError || error instanceof StorageUnavailableError) return error;
  const name = error instanceof Error ? error.name : 'Error';
  const status = error instanceof S3ServiceException ? ` (HTTP ${error.$metadata.httpStatusCode ?? '?'})` : '';
  return new StorageUnavailableError(`S3 ${name}${status}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** Streams each instance into S3: one PutObject up to a part, a multipart upload beyond. */
export class S3Storage implements Storage {
  readonly description: string;
  readonly prefix: string;
  readonly #options: S3StorageOptions;
  readonly #cleanups = new Set<Promise<void>>();

  constructor(options: S3StorageOptions) {
    this.#options = options;
    this.prefix = options.prefix;
    this.description = `s3://${options.bucket}/${options.prefix}`;
  }

  open(key: string, instance: InstanceDescriptor): ObjectWriter {
    const writer = new S3ObjectWriter(this.#options, key, instance, (uploadId) => this.#abortInBackground(key, uploadId));
    this.#track(writer.settled);
    return writer;
  }

  /** Waits for uploads still settling and for retried aborts, up to the deadline. */
  async close(deadline: number): Promise<void> {
    while (this.#cleanups.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.#cleanups]), new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref())]);
    }
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.then(() => undefined, () => undefined);
    this.#cleanups.add(tracked);
    void tracked.finally(() => this.#cleanups.delete(tracked));
  }

  /**
   * lib-storage aborts a failed upload itself, but storage that is failing may refuse that
   * too, leaving an open upload (and billed parts). Keep trying; the bucket's lifecycle rule
   * for incomplete uploads is the last resort.
   */
  #abortInBackground(key: string, uploadId: string): void {
    const { client, bucket, log } = this.#options;
    this.#track((async () => {
      for (const delay of [0, ...ABORT_RETRY_DELAYS_MS]) {
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref());
        try {
          await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
          return;
        } catch (error) {
          if (isNoSuchUpload(error)) return;
        }
      }
      log.error('multipart-abort-failed', { key, uploadId, note: 'left to the bucket lifecycle rule' });
    })());
  }
}

class S3ObjectWriter implements ObjectWriter {
  readonly stream: Writable;
  readonly #options: S3StorageOptions;
  readonly #key: string;
  readonly #instance: InstanceDescriptor;
  readonly #checksums: StreamChecksums;
  readonly #onAbandonedUpload: (uploadId: string) => void;
  readonly #abortController = new AbortController();
  #held: Buffer[] = [];
  #heldBytes = 0;
  #body: PassThrough | undefined;
  #upload: Upload | undefined;
  #result: Promise<StoredObject> | undefined;
  readonly #settled = Promise.withResolvers<void>();

  constructor(options: S3StorageOptions, key: string, instance: InstanceDescriptor, onAbandonedUpload: (uploadId: string) => void) {
    this.#options = options;
    this.#key = key;
    this.#instance = instance;
    this.#onAbandonedUpload = onAbandonedUpload;
    this.#checksums = new StreamChecksums({ partSize: options.partSizeBytes, partMd5: options.checksumMode === 'when-required' });
    this.stream = new Writable({
      highWaterMark: 256 * 1024,
      write: (chunk: Buffer, _encoding, callback) => this.#write(chunk, callback),
      final: (callback) => {
        if (this.#body) this.#body.end(callback);
        else {
          this.#result = this.#putSingle();
          this.#result.catch(() => undefined).finally(() => this.#settled.resolve());
          callback();
        }
      },
    });
  }

  #write(chunk: Buffer, callback: (error?: Error | null) => void): void {
    this.#checksums.update(chunk);
    if (!this.#body) {
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      if (this.#heldBytes <= this.#options.partSizeBytes) return callback();
      this.#startMultipart();
      return this.#forward(Buffer.concat(this.#takeHeld()), callback);
    }
    this.#forward(chunk, callback);
  }

  #forward(chunk: Buffer, callback: (error?: Error | null) => void): void {
    const body = this.#body!;
    if (body.write(chunk)) callback();
    else body.once('drain', () => callback());
  }

  #takeHeld(): Buffer[] {
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    return held;
  }

  #params(): PutObjectCommandInput {
    const { bucket, kmsKeyId, storageClass } = this.#options;
    const instance = this.#instance;
    return {
      Bucket: bucket,
      Key: this.#key,
      ContentType: 'application/dicom',
      // Identifiers of the transfer only: patient demographics never leave the DICOM object.
      Metadata: {
        'calling-ae': instance.callingAeTitle,
        'called-ae': instance.calledAeTitle,
        'transfer-syntax': instance.transferSyntaxUid,
        'sop-class': instance.sopClassUid,
        'received-at': instance.receivedAt.toISOString(),
      },
      ...(kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: kmsKeyId, BucketKeyEnabled: true } : {}),
      ...(storageClass ? { StorageClass: storageClass as PutObjectCommandInput['StorageClass'] } : {}),
    };
  }

  /**
   * The whole object fits one part: PUT it with a checksum S3 verifies before it stores
   * anything. With flexible checksums that is the CRC32, which S3 also reports back and the
   * listener compares; without them (e.g. Ceph Pacific) it is Content-MD5.
   */
  async #putSingle(): Promise<StoredObject> {
    const body = Buffer.concat(this.#takeHeld());
    const crc32 = this.#checksums.singlePartCrc32();
    const params = this.#params();
    const flexible = this.#options.checksumMode === 'when-supported';
    const input: PutObjectCommandInput = {
      ...params,
      Body: body,
      ContentLength: body.length,
      Metadata: { ...params.Metadata, crc32 },
      ...(flexible ? { ChecksumCRC32: crc32 } : { ContentMD5: this.#checksums.singlePartMd5().toString('base64') }),
    };
    try {
      const response = await this.#options.client.send(new PutObjectCommand(input), { abortSignal: this.#abortController.signal });
      if (flexible && response.ChecksumCRC32 !== crc32) {
        throw new IntegrityError(`S3 stored CRC32 ${response.ChecksumCRC32 ?? '(none reported)'}, the listener sent ${crc32}`);
      }
    } catch (error) {
      throw asStorageError(error);
    }
    return this.#stored();
  }

  #startMultipart(): void {
    const { client, partSizeBytes, queueSize, checksumMode } = this.#options;
    this.#body = new PassThrough({ highWaterMark: 256 * 1024 });
    this.#upload = new Upload({
      client,
      partSize: partSizeBytes,
      queueSize,
      leavePartsOnError: false,
      params: {
        ...this.#params(),
        Body: this.#body,
        ...(checksumMode === 'when-supported' ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
      },
    });
    this.#result = this.#completeMultipart(this.#upload);
    this.#result.catch(() => undefined).finally(() => this.#settled.resolve());
  }

  async #completeMultipart(upload: Upload): Promise<StoredObject> {
    try {
      const response = await upload.done();
      await this.#verifyMultipart(response.ChecksumCRC32, response.ETag);
    } catch (error) {
      if (upload.uploadId) this.#onAbandonedUpload(upload.uploadId);
      const failure = asStorageError(error);
      // The upload stopped reading its body; failing the stream now releases the paused
      // socket, so the rest of the instance is drained and the sender hears the failure.
      this.#body?.destroy(failure);
      this.stream.destroy(failure);
      throw failure;
    }
    return this.#stored();
  }

  /**
   * What S3 says it assembled must equal what this process streamed. With flexible checksums
   * S3 returns the composite CRC32; without them (e.g. Ceph Pacific) the multipart ETag is the
   * MD5 of part MD5s. An object whose integrity cannot be confirmed is not acknowledged.
   */
  async #verifyMultipart(crc32: string | undefined, etag: string | undefined): Promise<void> {
    if (this.#options.checksumMode === 'when-supported') {
      const expected = this.#checksums.compositeCrc32();
      if (crc32 !== expected) throw new IntegrityError(`S3 composite CRC32 ${crc32 ?? '(none)'} differs from the listener's ${expected}`);
      return;
    }
    const expected = this.#checksums.multipartEtag();
    // Ceph Pacific leaves the ETag out of CompleteMultipartUpload's answer; HEAD has it.
    const stored = etag || (await this.#options.client.send(new HeadObjectCommand({ Bucket: this.#options.bucket, Key: this.#key }))).ETag;
    if (stored !== expected) throw new IntegrityError(`S3 multipart ETag ${stored ?? '(none)'} differs from the listener's ${expected}`);
  }

  #stored(): StoredObject {
    return {
      location: `s3://${this.#options.bucket}/${this.#key}`,
      key: this.#key,
      bytes: this.#checksums.bytes,
    };
  }

  /** Resolves once the upload, if one started, has finished or given up; for shutdown. */
  get settled(): Promise<void> {
    return this.#settled.promise;
  }

  async commit(): Promise<StoredObject> {
    try {
      await finished(this.stream);
    } catch (error) {
      throw asStorageError(error);
    }
    if (!this.#result) throw new StorageUnavailableError('the object stream ended without an upload');
    return this.#result;
  }

  /**
   * A multipart upload is stopped by failing its body, not by lib-storage's abort signal:
   * that way `done()` settles only after lib-storage has tried AbortMultipartUpload itself,
   * and the upload ID is known for the background retry.
   */
  async abort(reason: Error): Promise<void> {
    this.#held = [];
    if (this.#body) this.#body.destroy(reason);
    else this.#abortController.abort(reason);
    this.stream.destroy();
    if (!this.#result) this.#settled.resolve();
    await this.#result?.catch(() => undefined);
  }
}
