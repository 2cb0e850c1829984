import type { Writable } from 'node:stream';

/** What is known about an instance when its object is opened; no patient data. */
export interface InstanceDescriptor {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  readonly callingAeTitle: string;
  readonly calledAeTitle: string;
  readonly receivedAt: Date;
  readonly studyInstanceUid: string | undefined;
  readonly seriesInstanceUid: string | undefined;
}

export interface StoredObject {
  /** `s3://bucket/key` or a file path. */
  readonly location: string;
  readonly key: string;
  readonly bytes: number;
}

/**
 * One object being written. The Part 10 bytes go into `stream`; `commit` resolves only when
 * the whole object is durable and its checksum verified; `abort` leaves nothing behind.
 * Both reject only with the error classes of `errors.ts`.
 */
export interface ObjectWriter {
  readonly stream: Writable;
  commit(): Promise<StoredObject>;
  abort(reason: Error): Promise<void>;
}

export interface Storage {
  /** For logs: the URL without credentials. */
  readonly description: string;
  readonly prefix: string;
  open(key: string, instance: InstanceDescriptor): ObjectWriter;
  /** Waits, until `deadline` (epoch ms), for uploads still settling and background clean-up (retried multipart aborts). */
  close(deadline: number): Promise<void>;
}
