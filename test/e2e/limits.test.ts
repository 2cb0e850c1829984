import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { storescu } from '../support/dcmtk.ts';
import { buildInstance, dataSetOffset, writeLargeInstance, type InstanceInfo } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { commandSet, pdata, PduType, RawScu } from '../support/raw-scu.ts';
import { s3ListenerEnv, createBucket, listOpenMultipartUploads } from '../support/s3.ts';
import { startThrottleProxy, type ThrottleProxy } from '../support/throttle-proxy.ts';
import { cephSettings } from '../support/context.ts';
import { pollUntil } from '../support/proc.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

const SC = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const MIB = 1024 * 1024;
const VERIFICATION = '1.2.840.10008.1.1';
const MF_BYTE_SC = '1.2.840.10008.5.1.4.1.1.7.2';
const verification = [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: ['1.2.840.10008.1.2'] }];

async function closedWithin(scu: RawScu, ms: number): Promise<boolean> {
  return Promise.race([scu.closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
}

describe('limits and timeouts', () => {
  let work: string;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('limits-');
    listener = await startListener({
      STORAGE_URL: `file://${work}/store`,
      DICOM_MAX_ASSOCIATIONS: '2',
      DICOM_ARTIM_TIMEOUT_SECONDS: '2',
      DICOM_IDLE_TIMEOUT_SECONDS: '2',
      DICOM_STALL_TIMEOUT_SECONDS: '2',
      DICOM_MAX_INSTANCE_SIZE_MIB: '1',
      DICOM_MAX_PDU_LENGTH: '16384',
    });
  });

  afterAll(async () => {
    await listener?.stop();
    await removeWorkDir(work);
  });

  test('beyond the association cap a sender gets a transient reject (local limit exceeded), and the process lives on', async () => {
    const held = await Promise.all([RawScu.connect(listener.port), RawScu.connect(listener.port)]);
    try {
      for (const scu of held) expect((await scu.associate({ contexts: verification })).accepted).toBe(true);
      const third = await RawScu.connect(listener.port);
      const result = await third.associate({ contexts: verification });
      third.destroy();
      // PS3.8: result 2 transient, source 3 service provider (presentation), reason 2 local limit exceeded
      expect(result.reject).toEqual({ result: 2, source: 3, reason: 2 });
    } finally {
      for (const scu of held) await scu.release();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await RawScu.connect(listener.port);
    expect((await again.associate({ contexts: verification })).accepted).toBe(true);
    await again.release();
  });

  test('a PDU declaring more than the maximum length is aborted before it is buffered', async () => {
    // GIVEN an association, then a P-DATA-TF header that claims 2 GiB
    const scu = await RawScu.connect(listener.port);
    await scu.associate({ contexts: verification });
    const header = Buffer.alloc(6);
    header.writeUInt8(PduType.PData, 0);
    header.writeUInt32BE(0x7fffffff, 2);
    scu.send(header);
    // WHEN it then streams 16 MiB of body
    for (let i = 0; i < 256 && !scu.isClosed; i++) scu.send(Buffer.alloc(64 * 1024));
    // THEN the listener answers A-ABORT and closes, without holding the bytes
    const answer = await scu.readPdu(5000).catch(() => undefined);
    expect(answer?.type ?? 'closed').toSatisfy((value: unknown) => value === PduType.Abort || value === 'closed');
    expect(await closedWithin(scu, 5000)).toBe(true);
    expect(listener.peakRssBytes()).toBeLessThan(200 * MIB);
  });

  test('ARTIM: a connection that never sends an A-ASSOCIATE-RQ is closed', async () => {
    const scu = await RawScu.connect(listener.port);
    const started = Date.now();
    expect(await closedWithin(scu, 8000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  test('an association idle between operations is aborted after the idle timeout', async () => {
    const scu = await RawScu.connect(listener.port);
    await scu.associate({ contexts: verification });
    const answer = await scu.readPdu(8000);
    expect(answer?.type).toBe(PduType.Abort);
  });

  test('a sender that stops mid-instance is aborted after the stall timeout, and nothing is stored', async () => {
    const { bytes, info } = buildInstance({ rows: 256, columns: 256 });
    const dataSet = bytes.subarray(dataSetOffset(bytes));
    const scu = await RawScu.connect(listener.port);
    await scu.associate({ contexts: [{ id: 1, abstractSyntax: SC, transferSyntaxes: [EXPLICIT_LE] }] });
    scu.sendPartialInstance({ contextId: 1, sopClassUid: SC, sopInstanceUid: info.sopInstanceUid, dataSet, bytes: 20_000 });
    const answer = await scu.readPdu(8000);
    expect(answer?.type).toBe(PduType.Abort);
    await listener.waitForLog((line) => line['event'] === 'association-violation' && line['violation'] === 'stall-timeout', 2000);
    // Not even the temporary file stays once the abort has settled.
    const leftovers = () => readdir(join(work, 'store'), { recursive: true }).catch(() => [] as string[]).then((names) => names.filter((name) => String(name).includes(info.sopInstanceUid)));
    expect(await pollUntil(leftovers, (names) => names.length === 0, 5000)).toEqual([]);
  });

  test('an instance over the maximum size is refused with 0xA700, and the association carries on', async () => {
    const big = buildInstance({ rows: 1024, columns: 1024, bitsAllocated: 16 });
    const small = buildInstance();
    const scu = await RawScu.connect(listener.port);
    await scu.associate({ contexts: [{ id: 1, abstractSyntax: SC, transferSyntaxes: [EXPLICIT_LE] }] });
    const refused = await scu.cStore({ contextId: 1, sopClassUid: SC, sopInstanceUid: big.info.sopInstanceUid, dataSet: big.bytes.subarray(dataSetOffset(big.bytes)) });
    expect(refused?.status).toBe(0xa700);
    expect(refused?.comment).toMatch(/maximum size/);
    const stored = await scu.cStore({ contextId: 1, sopClassUid: SC, sopInstanceUid: small.info.sopInstanceUid, dataSet: small.bytes.subarray(dataSetOffset(small.bytes)) });
    expect(stored?.status).toBe(0);
    await scu.release();
  });

  test('the process survived all of the above', async () => {
    const response = await fetch(`http://127.0.0.1:${listener.opsPort}/healthz`);
    expect(response.status).toBe(200);
  });
});

describe('slow storage is not a stalled sender', () => {
  let work: string;
  let proxy: ThrottleProxy;
  let listener: ListenerProcess;
  let instance: InstanceInfo;
  let bucket: string;

  beforeAll(async () => {
    work = await makeWorkDir('slow-storage-');
    bucket = await createBucket();
    instance = await writeLargeInstance(join(work, 'big.dcm'), { numberOfFrames: 16 });
    // S3 at about 2 MB/s: a 16 MiB instance takes several stall timeouts to store.
    proxy = await startThrottleProxy(Number(new URL(cephSettings().endpoint).port), 2 * MIB);
    listener = await startListener({
      ...s3ListenerEnv(bucket, 'slow', proxy.endpoint),
      DICOM_STALL_TIMEOUT_SECONDS: '2',
    });
  });

  afterAll(async () => {
    await listener?.stop();
    await proxy?.close();
    await removeWorkDir(work);
  });

  test('a transfer held back by slow storage completes with Success despite a 2 s stall timeout', async () => {
    const started = Date.now();
    const result = await storescu('127.0.0.1', listener.port, [instance.path], { aec: 'DICOMS3' });
    expect(Date.now() - started).toBeGreaterThan(4000);
    expect(result.files[0]?.status).toBe(0);
    expect(listener.logs.filter((line) => line['event'] === 'association-violation')).toEqual([]);
    expect(await listOpenMultipartUploads(bucket)).toEqual([]);
  });

  test('once an instance held back by slow storage is answered, the association answers its next request at once', async () => {
    // GIVEN an instance whose last 3 MiB wait in stream buffers while both part uploads are slow,
    // so the final write meets back-pressure just before the data set ends
    const tail = await writeLargeInstance(join(work, 'tail.dcm'), { numberOfFrames: 13 });
    const bytes = await readFile(tail.path);
    const scu = await RawScu.connect(listener.port);
    try {
      await scu.associate({ contexts: [{ id: 1, abstractSyntax: MF_BYTE_SC, transferSyntaxes: [EXPLICIT_LE] }, { ...verification[0]!, id: 3 }] });
      const stored = await scu.cStore({ contextId: 1, sopClassUid: MF_BYTE_SC, sopInstanceUid: tail.sopInstanceUid, dataSet: bytes.subarray(dataSetOffset(bytes)), fragmentSize: 65_000 });
      expect(stored?.status).toBe(0x0000);
      // WHEN the sender follows up with a C-ECHO
      scu.send(pdata(3, true, true, commandSet({ sopClassUid: VERIFICATION, commandField: 0x0030, messageId: scu.nextMessageId(), hasDataSet: false })));
      // THEN it is answered, and the release too: the socket was not left paused
      expect((await scu.readResponse(5000))?.status).toBe(0x0000);
      expect(await scu.release()).toBe(true);
    } finally {
      scu.destroy();
    }
  });
});
