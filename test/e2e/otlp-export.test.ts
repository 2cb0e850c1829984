import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCorpus, type Corpus } from '../support/corpus.ts';
import { storescu } from '../support/dcmtk.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { s3ListenerEnv, createBucket } from '../support/s3.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: { key: string; value: Record<string, unknown> }[] }

/** A stand-in OTLP/HTTP collector: it keeps every JSON export request it receives. */
function startReceiver(): Promise<{ port: number; traces: unknown[]; metrics: unknown[]; close(): Promise<void> }> {
  const traces: unknown[] = [];
  const metrics: unknown[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    request.on('end', () => {
      if (request.url === '/v1/traces') traces.push(JSON.parse(body));
      if (request.url === '/v1/metrics') metrics.push(JSON.parse(body));
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as AddressInfo).port,
    traces,
    metrics,
    close: () => new Promise((done) => server.close(() => done())),
  })));
}

function spansOf(exports: unknown[]): OtlpSpan[] {
  return (exports as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }[])
    .flatMap((request) => request.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)));
}

describe('OpenTelemetry over OTLP/HTTP, configured by the standard OTEL_* variables', () => {
  let work: string;
  let corpus: Corpus;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let listener: ListenerProcess;

  beforeAll(async () => {
    work = await makeWorkDir('otlp-');
    corpus = await buildCorpus({ dir: join(work, 'corpus'), smallCount: 2 });
    receiver = await startReceiver();
    const bucket = await createBucket();
    listener = await startListener({
      ...s3ListenerEnv(bucket, 'otlp'),
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'dicom-listener-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
    });
  });

  afterAll(async () => {
    await listener?.stop().catch(() => undefined);
    await receiver?.close();
    await removeWorkDir(work);
  });

  test('an association arrives at the collector as one trace, with S3 spans under its C-STORE spans, and metrics follow', async () => {
    const result = await storescu('127.0.0.1', listener.port, corpus.small.map((e) => e.path), { aec: 'DICOMS3' });
    expect(result.files.map((f) => f.status)).toEqual([0, 0]);
    // A drain flushes whatever is still batched.
    expect(await listener.stop()).toEqual({ code: 0, signal: null });
    const spans = spansOf(receiver.traces);
    const association = spans.find((span) => span.name === 'DICOM association')!;
    expect(association).toBeDefined();
    const trace = spans.filter((span) => span.traceId === association.traceId);
    const stores = trace.filter((span) => span.name === 'C-STORE');
    expect(stores.map((span) => span.parentSpanId)).toEqual([association.spanId, association.spanId]);
    const puts = trace.filter((span) => span.name === 'S3.PutObject');
    expect(puts.map((span) => stores.some((store) => store.spanId === span.parentSpanId))).toEqual([true, true]);
    const service = (receiver.traces[0] as { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] } }[] })
      .resourceSpans[0]!.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
    expect(service).toBe('dicom-listener-test');
    expect(JSON.stringify(receiver.metrics)).toContain('dicom_instances');
  });
});
