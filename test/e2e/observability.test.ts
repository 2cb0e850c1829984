import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCorpus, type Corpus } from '../support/corpus.ts';
import { echoscu, storescu } from '../support/dcmtk.ts';
import { buildInstance, dataSetOffset } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { RawScu } from '../support/raw-scu.ts';
import { s3ListenerEnv, createBucket, headObject, listKeys } from '../support/s3.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

const PHI = { patientName: 'ZZCANARY^WILHELMINA', patientId: 'MRN-7734-CANARY', patientBirthDate: '19230411', accessionNumber: 'ACC-CANARY-5521' };
const CANARIES = ['ZZCANARY', 'WILHELMINA', 'MRN-7734-CANARY', '19230411', 'ACC-CANARY-5521'];

/** Stand-in OTLP/HTTP collector keeping every JSON body, so span attributes can be scanned too. */
async function startCollector() {
  const bodies: string[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    request.on('end', () => {
      bodies.push(body);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, bodies, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('metrics and logs after a known workload, with patient data nowhere outside the objects', () => {
  let work: string;
  let bucket: string;
  let corpus: Corpus;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let listener: ListenerProcess;
  let metrics: string;

  beforeAll(async () => {
    work = await makeWorkDir('observability-');
    bucket = await createBucket();
    corpus = await buildCorpus({ dir: join(work, 'corpus'), smallCount: 4, common: PHI });
    collector = await startCollector();
    listener = await startListener({
      ...s3ListenerEnv(bucket, 'obs'),
      LOG_LEVEL: 'debug',
      DICOM_ALLOWED_CALLING_AE_TITLES: 'MODALITY,ECHOER,RAWSCU',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    // The workload: 4 stored, 1 refused as a SOP Class mismatch, 1 echo, 1 rejected association.
    await storescu('127.0.0.1', listener.port, corpus.small.map((e) => e.path), { aec: 'DICOMS3', aet: 'MODALITY' });
    await echoscu('127.0.0.1', listener.port, { aec: 'DICOMS3', aet: 'ECHOER' });
    await echoscu('127.0.0.1', listener.port, { aec: 'DICOMS3', aet: 'STRANGER' });
    const wrong = buildInstance({ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', ...PHI });
    const scu = await RawScu.connect(listener.port);
    await scu.associate({ contexts: [{ id: 1, abstractSyntax: '1.2.840.10008.5.1.4.1.1.7', transferSyntaxes: ['1.2.840.10008.1.2.1'] }] });
    await scu.cStore({ contextId: 1, sopClassUid: '1.2.840.10008.5.1.4.1.1.7', sopInstanceUid: wrong.info.sopInstanceUid, dataSet: wrong.bytes.subarray(dataSetOffset(wrong.bytes)) });
    await scu.release();
    await new Promise((resolve) => setTimeout(resolve, 300));
    metrics = await (await fetch(`http://127.0.0.1:${listener.opsPort}/metrics`)).text();
  });

  afterAll(async () => {
    await listener?.stop().catch(() => undefined);
    await collector?.close();
    await removeWorkDir(work);
  });

  test('/metrics counts instances by status, associations by outcome, bytes, and latency', () => {
    expect(metric(metrics, 'dicom_instances_total', { status: '0x0000', status_class: 'success' })).toBe(4);
    expect(metric(metrics, 'dicom_instances_total', { status: '0xA900', status_class: 'failure' })).toBe(1);
    expect(metric(metrics, 'dicom_storage_errors_total', { reason: 'sop-class-mismatch' })).toBe(1);
    expect(metric(metrics, 'dicom_associations_total', { outcome: 'released' })).toBe(3);
    expect(metric(metrics, 'dicom_associations_total', { outcome: 'rejected' })).toBe(1);
    expect(metric(metrics, 'dicom_associations_active')).toBe(0);
    expect(metric(metrics, 'dicom_bytes_in_flight')).toBe(0);
    const sent = corpus.small.reduce((sum, e) => sum + e.fileBytes, 0);
    expect(metric(metrics, 'dicom_received_bytes_total')).toBeGreaterThan(sent * 0.9);
    expect(metric(metrics, 'dicom_store_duration_seconds_count', { status_class: 'success' })).toBe(4);
  });

  test('metric labels have bounded values: no AE titles, UIDs or keys', () => {
    const labelValues = [...metrics.matchAll(/(\w+)="([^"]*)"/g)].filter(([, key]) => !key!.startsWith('otel_') && key !== 'le').map(([, key, value]) => `${key}=${value}`);
    for (const label of labelValues) expect(label).toMatch(/^(status=0x[0-9A-F]{4}|status_class=(success|failure)|outcome=[a-z-]+|reason=[a-z-]+|kind=[a-z-]+|service_name=.*|telemetry_sdk_\w+=.*)$/);
  });

  test('there is one summary line per association and one line per failure, with its status', () => {
    const summaries = listener.logs.filter((line) => line['event'] === 'association');
    expect(summaries.map((line) => [line['callingAe'], line['instances'], line['outcome']])).toEqual([
      ['MODALITY', 4, 'released'],
      ['ECHOER', 0, 'released'],
      ['RAWSCU', 1, 'released'],
    ]);
    expect(listener.logs.filter((line) => line['event'] === 'store-failed').map((line) => line['status'])).toEqual(['0xA900']);
    expect(listener.logs.filter((line) => line['event'] === 'association-rejected').map((line) => line['reason'])).toEqual(['calling-ae-not-recognized']);
  });

  test('no patient name, ID, birth date or accession number in logs, metrics, spans, keys or S3 metadata', async () => {
    await listener.stop();
    const keys = await listKeys(bucket);
    expect(keys.length).toBe(4);
    const metadata = await Promise.all(keys.map(async (key) => JSON.stringify((await headObject(bucket, key)).Metadata)));
    const spans = collector.bodies.join('\n');
    expect(spans).toContain('C-STORE');
    const places = { logs: listener.stdoutLines.join('\n') + listener.stderr(), metrics, spans, keys: keys.join('\n'), metadata: metadata.join('\n') };
    for (const [place, text] of Object.entries(places)) {
      for (const canary of CANARIES) expect(text.includes(canary), `${canary} in ${place}`).toBe(false);
    }
  });
});
