// S3 helpers for tests, against the shared Ceph RGW from global setup.
//
// Client settings that matter with RGW 16.2 (feasibility.md §5):
// - forcePathStyle: there is no wildcard DNS for virtual-hosted buckets.
// - requestChecksumCalculation/responseChecksumValidation WHEN_REQUIRED:
//   the SDK default sends streamed bodies as aws-chunked with a trailing
//   checksum, which Pacific rejects (411 MissingContentLength).
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  AbortMultipartUploadCommand,
  S3Client,
  type HeadObjectCommandOutput,
  type MultipartUpload,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { cephSettings, type CephSettings } from './context.ts';

/** S3 client for the shared gateway (or `endpoint`, e.g. a private gateway). */
export function s3Client(overrides: Partial<S3ClientConfig> & { endpoint?: string } = {}, settings: CephSettings = cephSettings()): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // A stalled RGW (e.g. a full OSD blocks writes) would otherwise hang a
    // request until the test times out with no hint; fail it after 60 s idle.
    requestHandler: { connectionTimeout: 5_000, socketTimeout: 60_000 },
    ...overrides,
  });
}

/**
 * Standard AWS SDK environment variables pointing a child process (e.g. the
 * listener) at the gateway. AWS_ENDPOINT_URL_S3 and the checksum variables
 * are honoured by @aws-sdk/client-s3 v3; path-style addressing has no
 * standard variable, so the process must set forcePathStyle itself.
 */
export function awsEnv(endpoint?: string, settings: CephSettings = cephSettings()): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: settings.accessKeyId,
    AWS_SECRET_ACCESS_KEY: settings.secretAccessKey,
    AWS_REGION: settings.region,
    AWS_ENDPOINT_URL_S3: endpoint ?? settings.endpoint,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** Listener environment that stores into `s3://bucket/prefix` on the test gateway (or `endpoint`). */
export function s3ListenerEnv(bucket: string, prefix: string, endpoint?: string): Record<string, string> {
  return { ...awsEnv(endpoint), STORAGE_URL: `s3://${bucket}/${prefix}`, S3_FORCE_PATH_STYLE: 'true', S3_CHECKSUM_MODE: 'when-required' };
}

/** A fresh bucket name (S3 rules: 3-63 chars of [a-z0-9-]). */
export function uniqueBucketName(prefix = 'test'): string {
  const p = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40);
  return `${p}-${randomBytes(6).toString('hex')}`;
}

/**
 * Creates a bucket and returns its name; with no argument a unique name is
 * generated. Each test file uses its own bucket, so files can run in parallel.
 */
export async function createBucket(name = uniqueBucketName(), client = s3Client()): Promise<string> {
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** All object keys (optionally under `prefix`), following pagination, sorted. */
export async function listKeys(bucket: string, prefix?: string, client = s3Client()): Promise<string[]> {
  const keys: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }));
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return keys.sort();
}

/** Whole object body in memory (use for small objects; stream big ones yourself). */
export async function getObjectBytes(bucket: string, key: string, client = s3Client()): Promise<Buffer> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!res.Body) throw new Error(`s3://${bucket}/${key}: empty body`);
  return Buffer.from(await res.Body.transformToByteArray());
}

export async function headObject(bucket: string, key: string, client = s3Client()): Promise<HeadObjectCommandOutput> {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

/** In-progress (not completed, not aborted) multipart uploads: leaks show up here. */
export async function listOpenMultipartUploads(bucket: string, client = s3Client()): Promise<MultipartUpload[]> {
  const uploads: MultipartUpload[] = [];
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker, UploadIdMarker }));
    uploads.push(...(page.Uploads ?? []));
    if (!page.IsTruncated) return uploads;
    KeyMarker = page.NextKeyMarker;
    UploadIdMarker = page.NextUploadIdMarker;
  }
}

/**
 * Deletes every object and aborts every open multipart upload, so RGW can
 * garbage-collect (memstore keeps everything in the OSD's RAM).
 */
export async function emptyBucket(bucket: string, client = s3Client()): Promise<void> {
  for (const u of await listOpenMultipartUploads(bucket, client)) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  }
  const keys = await listKeys(bucket, undefined, client);
  for (let i = 0; i < keys.length; i += 1000) {
    const res = await client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
    );
    if (res.Errors?.length) throw new Error(`emptyBucket ${bucket}: ${JSON.stringify(res.Errors.slice(0, 3))}`);
  }
}
