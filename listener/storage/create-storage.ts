import type { ListenerConfig } from '../config.ts';
import type { StorageTarget } from '../config-values.ts';
import type { Logger } from '../log.ts';
import { FileStorage } from './file-storage.ts';
import { createS3Client, S3Storage } from './s3-storage.ts';
import type { Storage } from './storage.ts';

/** Chooses the backend by the storage URL's scheme; both sit behind the one Storage interface. */
export function createStorage(target: StorageTarget, config: ListenerConfig, log: Logger): Storage {
  if (target.kind === 'file') return new FileStorage(target.root);
  const { s3 } = config;
  return new S3Storage({
    bucket: target.bucket,
    prefix: target.prefix,
    client: createS3Client({ forcePathStyle: s3.forcePathStyle, checksumMode: s3.checksumMode, requestTimeoutMs: s3.requestTimeoutMs }),
    kmsKeyId: s3.kmsKeyId,
    storageClass: s3.storageClass,
    partSizeBytes: s3.partSizeBytes,
    queueSize: s3.queueSize,
    checksumMode: s3.checksumMode,
    log,
  });
}
