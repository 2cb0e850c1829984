import { join } from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTelemetry, type Telemetry } from '../../listener/telemetry.ts';

// Tracing must be started before the AWS SDK loads, so everything that pulls it in is
// imported dynamically, after startTelemetry().
const exporter = new InMemorySpanExporter();
let telemetry: Telemetry | undefined;

type Listener = { dicomPort: number | null; drain(): Promise<unknown> };

describe('one trace per association, with S3 calls under the C-STORE that caused them', () => {
  let listener: Listener;
  let small: { path: string; sopInstanceUid: string }[];
  let big: { path: string; sopInstanceUid: string };
  let storescu: typeof import('../support/dcmtk.ts').storescu;
  let echoscu: typeof import('../support/dcmtk.ts').echoscu;
  let bucket: string;

  beforeAll(async () => {
    telemetry = await startTelemetry({}, [new SimpleSpanProcessor({ exporter })]);
    const [{ loadConfig }, { createLogger }, { startListener }, s3, dcmtk, corpusModule, files, work] = await Promise.all([
      import('../../listener/config.ts'),
      import('../../listener/log.ts'),
      import('../../listener/listener.ts'),
      import('../support/s3.ts'),
      import('../support/dcmtk.ts'),
      import('../support/corpus.ts'),
      import('../support/dicom-file.ts'),
      import('../support/work-dir.ts'),
    ]);
    storescu = dcmtk.storescu;
    echoscu = dcmtk.echoscu;
    const dir = await work.makeWorkDir('tracing-');
    const corpus = await corpusModule.buildCorpus({ dir: join(dir, 'corpus'), smallCount: 2, common: { patientName: 'TRACE^CANARY', patientId: 'PID-TRACE-CANARY' } });
    small = corpus.small;
    big = await files.writeLargeInstance(join(dir, 'big.dcm'), { numberOfFrames: 12, patientName: 'TRACE^CANARY', patientId: 'PID-TRACE-CANARY' });
    bucket = await s3.createBucket();
    Object.assign(process.env, s3.awsEnv());
    const config = loadConfig({
      DICOM_PORT: '0', OPS_PORT: '0', DICOM_HOST: '127.0.0.1', OPS_HOST: '127.0.0.1',
      STORAGE_URL: `s3://${bucket}/traced`, S3_FORCE_PATH_STYLE: 'true', S3_CHECKSUM_MODE: 'when-required',
    });
    listener = await startListener(config, createLogger('error', () => undefined));
  });

  afterAll(async () => {
    await listener?.drain();
    await telemetry?.shutdown();
  });

  const spans = () => exporter.getFinishedSpans();
  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
  const byId = () => new Map(spans().map((span) => [span.spanContext().spanId, span]));
  function ancestors(span: ReadableSpan): ReadableSpan[] {
    const index = byId();
    const chain: ReadableSpan[] = [];
    for (let parent = parentOf(span); parent !== undefined; parent = parentOf(index.get(parent)!)) {
      const next = index.get(parent);
      if (!next) break;
      chain.push(next);
    }
    return chain;
  }

  test('a C-ECHO association is its own trace: a SERVER span with one C-ECHO child', async () => {
    expect((await echoscu('127.0.0.1', listener.dicomPort!, { aec: 'DICOMS3', aet: 'ECHOER' })).ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const association = spans().find((span) => span.name === 'DICOM association' && span.attributes['dicom.calling_ae_title'] === 'ECHOER');
    expect(association?.kind).toBe(1 /* SERVER */);
    expect(parentOf(association!)).toBeUndefined();
    const echo = spans().filter((span) => span.spanContext().traceId === association!.spanContext().traceId && span.name === 'C-ECHO');
    expect(echo.map((span) => parentOf(span))).toEqual([association!.spanContext().spanId]);
  });

  test('S3 spans of every storage call are descendants of the C-STORE span of their instance', async () => {
    const result = await storescu('127.0.0.1', listener.dicomPort!, [...small.map((e) => e.path), big.path], { aec: 'DICOMS3', aet: 'TRACED' });
    expect(result.files.map((f) => f.status)).toEqual([0, 0, 0]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const association = spans().find((span) => span.name === 'DICOM association' && span.attributes['dicom.calling_ae_title'] === 'TRACED')!;
    const trace = spans().filter((span) => span.spanContext().traceId === association.spanContext().traceId);
    const stores = trace.filter((span) => span.name === 'C-STORE');
    expect(stores.length).toBe(3);
    for (const store of stores) expect(parentOf(store)).toBe(association.spanContext().spanId);
    const s3Spans = trace.filter((span) => span.name.startsWith('S3.'));
    expect(new Set(s3Spans.map((span) => span.name))).toEqual(new Set(['S3.PutObject', 'S3.CreateMultipartUpload', 'S3.UploadPart', 'S3.CompleteMultipartUpload', 'S3.HeadObject']));
    const bigStore = stores.find((span) => String(span.attributes['dicom.storage.key']).endsWith(`${big.sopInstanceUid}.dcm`))!;
    for (const span of s3Spans) {
      const storeAncestor = ancestors(span).find((ancestor) => ancestor.name === 'C-STORE');
      expect(storeAncestor, span.name).toBeDefined();
      if (span.name !== 'S3.PutObject') expect(storeAncestor).toBe(bigStore);
    }
  });

  test('spans carry transfer facts and the DIMSE status in hex, never patient data', () => {
    const store = spans().find((span) => span.name === 'C-STORE')!;
    expect(store.attributes).toMatchObject({
      'rpc.system': 'dicom',
      'rpc.method': 'C-STORE',
      'dicom.status': '0x0000',
      'dicom.sop_class_uid': expect.stringMatching(/^1\.2\.840\.10008\.5\.1\.4\.1\.1\./),
      'dicom.transfer_syntax_uid': '1.2.840.10008.1.2.1',
    });
    expect(store.attributes['dicom.data_set.bytes']).toBeGreaterThan(0);
    const association = spans().find((span) => span.name === 'DICOM association' && span.attributes['dicom.calling_ae_title'] === 'TRACED')!;
    expect(association.attributes).toMatchObject({ 'dicom.called_ae_title': 'DICOMS3', 'network.peer.address': '127.0.0.1', 'dicom.association.outcome': 'released' });
    const everything = JSON.stringify(spans().map((span) => span.attributes));
    expect(everything).not.toMatch(/CANARY/);
  });
});
