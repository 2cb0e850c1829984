// Smoke tests of the test-support layer against the real peers: the shared
// Ceph RGW, dcmtk (storescu/storescp/echoscu, converters), Orthanc, and the
// listener process harness. If these fail, listener test failures mean
// nothing, so they are kept fast and specific.
import { PutObjectCommand, CreateMultipartUploadCommand, type S3ServiceException } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { killRgw, startPrivateGateway, startRgw, stopRgw } from './ceph.ts';
import { buildCorpus, type Corpus } from './corpus.ts';
import { dcmdump, dcmftest, echoscu, proposeFlagFor, startStorescp, storescu } from './dcmtk.ts';
import { hashDataSet, readDataSet, readInflatedDataSet, readMeta, TransferSyntax, writeLargeInstance } from './dicom-file.ts';
import { assertIsolatedNetwork } from './isolation.ts';
import { startListener } from './listener-process.ts';
import { startOrthanc } from './orthanc.ts';
import { isAlive } from './proc.ts';
import { createBucket, emptyBucket, getObjectBytes, headObject, listKeys, listOpenMultipartUploads, s3Client } from './s3.ts';
import { makeWorkDir, removeWorkDir } from './work-dir.ts';

let corpus: Corpus;
let scratch: string;

beforeAll(async () => {
  scratch = await makeWorkDir('peers-test-');
  corpus = await buildCorpus({ dir: join(scratch, 'corpus'), smallCount: 5 });
});

afterAll(async () => {
  await removeWorkDir(scratch);
});

describe('network isolation', () => {
  it('runs the suite in a namespace whose only interface is lo', () => {
    // given the suite was started through `npm test`
    // when the interfaces are listed
    // then only loopback is visible, and the guard used by Orthanc/storescp starters passes
    expect(Object.keys(networkInterfaces())).toEqual(['lo']);
    expect(() => assertIsolatedNetwork()).not.toThrow();
  });
});

describe('Ceph RGW from global setup', () => {
  it('round-trips an object and tracks multipart uploads through the provided endpoint', async () => {
    // given the injected settings and a fresh bucket
    const settings = inject('ceph');
    expect(settings.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(settings.region).toBe('us-east-1');
    const s3 = s3Client();
    const bucket = await createBucket(undefined, s3);
    const body = randomBytes(1024 * 1024 + 7);

    // when an object is written and a multipart upload is left open
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/a.bin', Body: body, Metadata: { canary: 'x1' } }));
    const mpu = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'dir/open.bin' }));

    // then it reads back byte-identical, with its metadata, and the open upload is listed
    expect((await getObjectBytes(bucket, 'dir/a.bin', s3)).equals(body)).toBe(true);
    const head = await headObject(bucket, 'dir/a.bin', s3);
    expect(head.ContentLength).toBe(body.length);
    expect(head.Metadata).toEqual({ canary: 'x1' });
    expect(await listKeys(bucket, 'dir/', s3)).toEqual(['dir/a.bin']);
    expect((await listOpenMultipartUploads(bucket, s3)).map((u) => u.UploadId)).toEqual([mpu.UploadId]);

    // and emptyBucket removes objects and aborts the open upload
    await emptyBucket(bucket, s3);
    expect(await listKeys(bucket, undefined, s3)).toEqual([]);
    expect(await listOpenMultipartUploads(bucket, s3)).toEqual([]);
  });

  it('survives a stopRgw()/startRgw() cycle and a killRgw() on a gateway (private, so parallel files are unaffected)', async () => {
    // given a private gateway on the shared cluster with one object written through it
    const gw = await startPrivateGateway();
    const s3 = s3Client({ endpoint: gw.endpoint, maxAttempts: 1 });
    const bucket = await createBucket(undefined, s3);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'before', Body: 'kept' }));
    const firstPid = gw.pid();

    // when the gateway is stopped
    await stopRgw({ gateway: gw.name });

    // then its process is gone and S3 calls fail at the connection level
    expect(isAlive(firstPid)).toBe(false);
    const err = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'during', Body: 'x' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as S3ServiceException).$metadata?.httpStatusCode).toBeUndefined();

    // when it is started again
    await startRgw({ gateway: gw.name });

    // then it has a new PID, the object written before the outage is intact, and writes work
    expect(gw.pid()).not.toBe(firstPid);
    expect((await getObjectBytes(bucket, 'before', s3)).toString()).toBe('kept');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'after', Body: 'ok' }));

    // and the same holds after SIGKILL
    const secondPid = gw.pid();
    await killRgw({ gateway: gw.name });
    expect(isAlive(secondPid)).toBe(false);
    await gw.start();
    expect(await listKeys(bucket, undefined, s3)).toEqual(['after', 'before']);

    // and the bucket is visible through the shared gateway too (same cluster)
    expect(await listKeys(bucket)).toEqual(['after', 'before']);
    await emptyBucket(bucket);
    await gw.stop();
  });
});

describe('corpus', () => {
  it('every file passes dcmftest and dcmdump and carries the expected transfer syntax and SOP Instance UID', async () => {
    // given the built corpus (native, dcmtk-transcoded and synthetic encapsulated files)
    expect(corpus.transcoded.map((e) => e.transferSyntaxUid).sort()).toEqual(
      [
        TransferSyntax.ImplicitVRLittleEndian,
        TransferSyntax.ExplicitVRBigEndian,
        TransferSyntax.DeflatedExplicitVRLittleEndian,
        TransferSyntax.JpegLosslessSV1,
        TransferSyntax.JpegBaseline,
        TransferSyntax.JpegLsLossless,
        TransferSyntax.Rle,
      ].sort(),
    );
    expect(new Set(corpus.all.map((e) => e.sopInstanceUid)).size).toBe(corpus.all.length);

    for (const entry of corpus.all) {
      // when each file is checked by dcmtk and by our meta reader
      const meta = await readMeta(entry.path);
      // then it is Part 10, parses fully, and its meta matches what the corpus claims
      expect(await dcmftest(entry.path), entry.name).toBe(true);
      const dump = await dcmdump(entry.path, ['-q', '+L']);
      expect(dump, entry.name).toContain(entry.sopInstanceUid);
      expect(meta.transferSyntaxUid, entry.name).toBe(entry.transferSyntaxUid);
      expect(meta.mediaStorageSopInstanceUid, entry.name).toBe(entry.sopInstanceUid);
      expect(meta.mediaStorageSopClassUid, entry.name).toBe(entry.sopClassUid);
      expect(await hashDataSet(entry.path), entry.name).toBe(entry.dataSetSha256);
    }
    // and the PHI canaries are in the data sets (so tests can look for leaks)
    expect(await dcmdump(corpus.ct.path)).toContain('CANARY^PHI^NAME');
  });

  it('streams a large multi-frame instance to disk with a correct data set hash', async () => {
    // given the streaming writer
    const path = join(scratch, 'large.dcm');
    // when a 96 MiB, 96-frame instance is written frame by frame
    const info = await writeLargeInstance(path, { numberOfFrames: 96 });
    // then the file is valid DICOM of the announced size whose data set hashes as reported
    expect(info.fileBytes).toBe((await stat(path)).size);
    expect(info.fileBytes).toBeGreaterThan(96 * 1024 * 1024);
    expect(await dcmftest(path)).toBe(true);
    expect(await dcmdump(path, ['-q', '+P', '0028,0008'])).toContain('[96]');
    expect(await hashDataSet(path)).toBe(info.dataSetSha256);
  });
});

describe('dcmtk peers', () => {
  it('storescu delivers the small series to storescp with byte-identical data sets', async () => {
    // given storescp in the isolated namespace
    const recv = await makeWorkDir('storescp-');
    const scp = await startStorescp(0, recv, { aet: 'STORESCP' });
    try {
      // when echoed and sent the small series
      expect((await echoscu('127.0.0.1', scp.port, { aec: 'STORESCP' })).ok).toBe(true);
      const files = corpus.small.map((e) => e.path);
      const res = await storescu('127.0.0.1', scp.port, files, { aec: 'STORESCP' });

      // then every file got Success, and storescp's copies have identical data sets
      expect(res.code).toBe(0);
      expect(res.files.map((f) => [f.file, f.status])).toEqual(files.map((f) => [f, 0]));
      expect(res.allSucceeded).toBe(true);
      const received = await scp.received();
      expect(received.map((r) => r.sopInstanceUid).sort()).toEqual(corpus.small.map((e) => e.sopInstanceUid).sort());
      for (const entry of corpus.small) {
        const got = received.find((r) => r.sopInstanceUid === entry.sopInstanceUid);
        expect(got).toBeDefined();
        expect((await readDataSet(got!.path)).equals(await readDataSet(entry.path)), entry.name).toBe(true);
      }
    } finally {
      await scp.stop();
    }
  });

  it('storescu sends every transfer syntax dcmtk 3.6.7 knows, unchanged, choosing the proposal from the file', async () => {
    // given a bit-preserving storescp accepting every TS, and one preferring big endian
    // (storescp +xa would pick explicit LE for a BE file, and storescu would convert it)
    const anyTs = await startStorescp(0, await makeWorkDir('storescp-ts-'), { bitPreserving: true });
    const bigEndian = await startStorescp(0, await makeWorkDir('storescp-be-'), { bitPreserving: true, acceptAll: false, extraArgs: ['+xb'] });
    try {
      const sendable = [...corpus.transcoded, ...corpus.synthetic, corpus.ct, corpus.multiFrame].filter(
        (e) => !e.transferSyntaxUid.startsWith('1.2.840.10008.1.2.4.20'),
      );
      for (const entry of sendable) {
        const scp = entry.transferSyntaxUid === TransferSyntax.ExplicitVRBigEndian ? bigEndian : anyTs;
        // when each file is sent on its own association with the auto-chosen proposal
        const res = await storescu('127.0.0.1', scp.port, [entry.path]);
        // then it is stored with Success in its own transfer syntax and identical data set bytes
        expect(res.files[0]?.status, `${entry.name}: ${res.files[0]?.statusText}`).toBe(0);
        const got = (await scp.received()).find((r) => r.sopInstanceUid === entry.sopInstanceUid);
        expect(got?.transferSyntaxUid, entry.name).toBe(entry.transferSyntaxUid);
        if (entry.transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian) {
          // storescu re-deflates, and deflate output depends on its buffering: compare content
          expect((await readInflatedDataSet(got!.path)).equals(await readInflatedDataSet(entry.path)), entry.name).toBe(true);
        } else {
          expect(await hashDataSet(got!.path), entry.name).toBe(entry.dataSetSha256);
        }
      }
      // and HTJ2K is refused up front, because dcmtk 3.6.7 cannot send it
      expect(() => proposeFlagFor(TransferSyntax.HtJ2kLossless)).toThrow(/does not know/);
    } finally {
      await anyTs.stop();
      await bigEndian.stop();
    }
  });
});

describe('Orthanc', () => {
  it('accepts a storescu upload and sends the study to storescp with storeToModality', async () => {
    // given storescp as a modality of Orthanc
    const recv = await makeWorkDir('orthanc-out-');
    const scp = await startStorescp(0, recv, { aet: 'SCPOUT' });
    const orthanc = await startOrthanc({ aet: 'ORTHANC', modalities: { scpout: { aet: 'SCPOUT', host: '127.0.0.1', port: scp.port } } });
    try {
      expect(await orthanc.echo('scpout')).toBe(true);

      // when the small series is sent to Orthanc with storescu
      const res = await storescu('127.0.0.1', orthanc.dicomPort, corpus.small.map((e) => e.path), { aec: 'ORTHANC' });
      expect(res.allSucceeded).toBe(true);
      const studies = await orthanc.listStudies();
      expect(studies).toHaveLength(1);
      expect((await orthanc.listInstances()).length).toBe(corpus.small.length);

      // and Orthanc is told to store the study to storescp
      const job = await orthanc.storeToModality('scpout', studies);

      // then all instances arrive at storescp with their data sets unchanged
      expect(job.InstancesCount).toBe(corpus.small.length);
      expect(job.FailedInstancesCount).toBe(0);
      const received = await scp.received();
      expect(received.map((r) => r.sopInstanceUid).sort()).toEqual(corpus.small.map((e) => e.sopInstanceUid).sort());
      for (const entry of corpus.small) {
        const got = received.find((r) => r.sopInstanceUid === entry.sopInstanceUid)!;
        expect((await readDataSet(got.path)).equals(await readDataSet(entry.path)), entry.name).toBe(true);
      }

      // and uploadInstance over REST adds an instance
      const id = await orthanc.uploadInstance(corpus.ct.path);
      expect(await orthanc.get<{ MainDicomTags: { SOPInstanceUID: string } }>(`/instances/${id}`)).toMatchObject({
        MainDicomTags: { SOPInstanceUID: corpus.ct.sopInstanceUid },
      });
    } finally {
      await orthanc.stop();
      await scp.stop();
    }
  });
});

describe('listener process harness (against a stand-in entry point)', () => {
  const entry = 'test/support/fixtures/fake-listener.ts';

  it('resolves with the ports from the "listening" line, collects JSON logs, measures RSS and stops by signal', async () => {
    // given the harness and an entry point honouring the listener's startup contract
    // when it is started with a custom env
    const l = await startListener({ FAKE_CUSTOM: 'hello', FAKE_BALLAST_BYTES: String(64 * 1024 * 1024) }, { entry });

    // then the ports are bound, the env arrived merged over the base env, and non-JSON lines are kept only as text
    expect(l.port).toBeGreaterThan(0);
    expect(l.opsPort).toBeGreaterThan(0);
    expect(l.tlsPort).toBeNull();
    const env = await l.waitForLog((x) => x.event === 'env');
    expect(env).toMatchObject({ dicomHost: '127.0.0.1', custom: 'hello', hasAwsWarningOff: 'true' });
    expect(l.stdoutLines).toContain('not json: ignored by the log parser');
    expect(l.logs.every((x) => typeof x === 'object')).toBe(true);
    expect(l.peakRssBytes()).toBeGreaterThan(64 * 1024 * 1024);

    // when stopped with SIGTERM
    const exit = await l.stop();
    // then it exited cleanly after logging its shutdown
    expect(exit).toEqual({ code: 0, signal: null });
    expect(l.logs.some((x) => x.event === 'shutdown')).toBe(true);
    expect(isAlive(l.pid)).toBe(false);
  });

  it('rejects with the captured stderr when the process exits before listening', async () => {
    // given an entry point that fails at startup
    // when started
    const p = startListener({ FAKE_FAIL_AT_START: 'bad config' }, { entry });
    // then the promise rejects with the exit code and stderr
    await expect(p).rejects.toThrow(/exited before listening \(code 3[\s\S]*refusing to start \(bad config\)/);
  });
});
