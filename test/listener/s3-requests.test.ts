// What the listener asks of S3, checked on the wire. The endpoint here is a small in-process
// stand-in that records requests and answers like S3 (ETags, flexible checksums, composite
// checksums of multipart uploads); acceptance against a real S3 server is in test/e2e on Ceph.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { storescu } from '../support/dcmtk.ts';
import { writeInstance, writeLargeInstance, type InstanceInfo } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

interface Recorded { method: string; url: string; headers: http.IncomingHttpHeaders; bytes: number }

const crc32 = (data: Buffer) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(zlib.crc32(data) >>> 0);
  return out.toString('base64');
};

/**
 * A stand-in S3 endpoint (path-style). `corruptComposite` makes it report a wrong assembled
 * checksum; `echoChecksum: false` makes it leave the CRC32 out of its PutObject answer.
 */
async function startFakeS3(options: { corruptComposite: boolean; echoChecksum?: boolean }) {
  const requests: Recorded[] = [];
  /** Part number → CRC32, for the one upload the stand-in serves; S3 combines them in part order. */
  const partChecksums = new Map<number, string>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(request.url ?? '/', 'http://s3');
      requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, bytes: body.length });
      const etag = `"${crypto.createHash('md5').update(body).digest('hex')}"`;
      // Like S3, refuse a body whose flexible checksum does not match it.
      const sent = request.headers['x-amz-checksum-crc32'];
      if (request.method === 'PUT' && sent !== undefined && sent !== crc32(body)) {
        response.writeHead(400, { 'content-type': 'application/xml' }).end('<Error><Code>BadDigest</Code><Message>The CRC32 you specified did not match the calculated checksum.</Message></Error>');
        return;
      }
      if (request.method === 'POST' && url.searchParams.has('uploads')) {
        response.writeHead(200, { 'content-type': 'application/xml' }).end(`<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>U1</UploadId></InitiateMultipartUploadResult>`);
      } else if (request.method === 'PUT' && url.searchParams.has('partNumber')) {
        const checksum = String(request.headers['x-amz-checksum-crc32'] ?? '');
        partChecksums.set(Number(url.searchParams.get('partNumber')), checksum);
        response.writeHead(200, { etag, 'x-amz-checksum-crc32': checksum }).end();
      } else if (request.method === 'POST' && url.searchParams.has('uploadId')) {
        const parts = [...partChecksums.entries()].sort(([a], [b]) => a - b).map(([, checksum]) => checksum);
        const joined = Buffer.concat(parts.map((p) => Buffer.from(p, 'base64')));
        const composite = options.corruptComposite ? `AAAAAA==-${parts.length}` : `${crc32(joined)}-${parts.length}`;
        response.writeHead(200, { 'content-type': 'application/xml' }).end(`<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"x-${parts.length}"</ETag><ChecksumCRC32>${composite}</ChecksumCRC32></CompleteMultipartUploadResult>`);
      } else if (request.method === 'DELETE') {
        response.writeHead(204).end();
      } else if (request.method === 'PUT') {
        const echo = options.echoChecksum !== false && request.headers['x-amz-checksum-crc32'];
        response.writeHead(200, { etag, ...(echo ? { 'x-amz-checksum-crc32': String(request.headers['x-amz-checksum-crc32']) } : {}) }).end();
      } else {
        response.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function listenerEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: 'TEST', AWS_SECRET_ACCESS_KEY: 'TEST', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_S3: endpoint, AWS_EC2_METADATA_DISABLED: 'true',
    STORAGE_URL: 's3://images/studies', S3_FORCE_PATH_STYLE: 'true', S3_CHECKSUM_MODE: 'when-supported',
    S3_SSE_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    S3_STORAGE_CLASS: 'INTELLIGENT_TIERING',
  };
}

describe('S3 requests on the wire (flexible checksums, as on AWS)', () => {
  let work: string;
  let small: InstanceInfo;
  let big: InstanceInfo;
  let fake: Awaited<ReturnType<typeof startFakeS3>>;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('s3-requests-');
    small = await writeInstance(join(work, 'small.dcm'), {});
    big = await writeLargeInstance(join(work, 'big.dcm'), { numberOfFrames: 12 });
    fake = await startFakeS3({ corruptComposite: false });
    listener = await startListener(listenerEnv(fake.endpoint));
  });

  afterAll(async () => {
    await listener?.stop();
    await fake?.close();
    await removeWorkDir(work);
  });

  test('a small instance is one PutObject with its CRC32 (and no Content-MD5), SSE-KMS, the storage class and transfer metadata', async () => {
    const result = await storescu('127.0.0.1', listener.port, [small.path], { aec: 'DICOMS3', aet: 'MODALITY' });
    expect(result.files[0]?.status).toBe(0);
    const put = fake.requests.find((r) => r.method === 'PUT' && r.url.includes(small.sopInstanceUid))!;
    expect(put.url).toBe(`/images/studies/${small.studyInstanceUid}/${small.seriesInstanceUid}/${small.sopInstanceUid}.dcm?x-id=PutObject`);
    expect(put.headers).toMatchObject({
      'content-type': 'application/dicom',
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'x-amz-server-side-encryption-bucket-key-enabled': 'true',
      'x-amz-storage-class': 'INTELLIGENT_TIERING',
      'x-amz-meta-calling-ae': 'MODALITY',
      'x-amz-meta-called-ae': 'DICOMS3',
      'x-amz-meta-transfer-syntax': '1.2.840.10008.1.2.1',
    });
    expect(put.headers['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    expect(put.headers['x-amz-checksum-crc32']).toBe(put.headers['x-amz-meta-crc32']);
    // S3 verifies the CRC32 itself; an MD5 on top would only hash the body twice.
    expect(put.headers['content-md5']).toBeUndefined();
  });

  test('a large instance is a multipart upload whose composite CRC32 the listener verifies', async () => {
    const result = await storescu('127.0.0.1', listener.port, [big.path], { aec: 'DICOMS3' });
    expect(result.files[0]?.status).toBe(0);
    const create = fake.requests.find((r) => r.method === 'POST' && r.url.includes('uploads'))!;
    expect(create.headers).toMatchObject({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-storage-class': 'INTELLIGENT_TIERING', 'x-amz-checksum-algorithm': 'CRC32' });
    const parts = fake.requests.filter((r) => r.method === 'PUT' && r.url.includes('partNumber'));
    expect(parts.length).toBe(3);
    for (const part of parts) expect(part.headers['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
  });

  test('bodies are signed as UNSIGNED-PAYLOAD, not SHA-256-hashed, because each carries the checksum S3 verifies', async () => {
    // GIVEN the uploads of the tests above (one PutObject, three parts)
    const uploads = fake.requests.filter((r) => r.method === 'PUT');
    expect(uploads.length).toBeGreaterThanOrEqual(4);
    // THEN none has a payload hash in its signature, and each has a body checksum instead
    for (const upload of uploads) {
      expect(upload.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(upload.headers['x-amz-checksum-crc32'] ?? upload.headers['content-md5']).toBeTruthy();
    }
  });
});

/** Sends one instance to a listener on a stand-in S3 with `options`; its status and the logged failure reason. */
async function storeThrough(options: Parameters<typeof startFakeS3>[0], write: (path: string) => Promise<InstanceInfo>) {
  const work = await makeWorkDir('s3-answer-');
  const fake = await startFakeS3(options);
  const listener = await startListener(listenerEnv(fake.endpoint));
  try {
    const instance = await write(join(work, 'instance.dcm'));
    const result = await storescu('127.0.0.1', listener.port, [instance.path], { aec: 'DICOMS3' });
    const failure = listener.logs.find((line) => line['event'] === 'store-failed');
    return { status: result.files[0]?.status, reason: failure?.['reason'] };
  } finally {
    await listener.stop();
    await fake.close();
    await removeWorkDir(work);
  }
}

describe('a storage answer that does not match what was sent is never acknowledged', () => {
  test('a PutObject answer without the CRC32 it was sent is answered 0xA700', async () => {
    // GIVEN an S3 endpoint that takes flexible checksums but does not confirm them
    // WHEN an instance that fits one part is sent
    const { status, reason } = await storeThrough({ corruptComposite: false, echoChecksum: false }, (path) => writeInstance(path, {}));
    // THEN it is not acknowledged, for want of a confirmed checksum
    expect(status).toBe(0xa700);
    expect(reason).toBe('integrity');
  });

  test('a wrong composite checksum from S3 is answered 0xA700', async () => {
    // GIVEN an S3 endpoint that reports a wrong checksum for what it assembled
    // WHEN an instance larger than a part is sent
    const { status, reason } = await storeThrough({ corruptComposite: true }, (path) => writeLargeInstance(path, { numberOfFrames: 12 }));
    // THEN it is not acknowledged
    expect(status).toBe(0xa700);
    expect(reason).toBe('integrity');
  });
});
