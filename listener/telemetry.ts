import type { IMetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Tracing is on only when there is somewhere to send it: an OTLP endpoint, or an exporter
 * named explicitly. Otherwise no SDK starts, the OpenTelemetry API stays a no-op, and nothing
 * is exported or slowed.
 */
export function tracingConfigured(env: Env): boolean {
  if (env['OTEL_SDK_DISABLED']?.toLowerCase() === 'true') return false;
  const exporter = env['OTEL_TRACES_EXPORTER']?.trim();
  if (exporter === 'none') return false;
  return Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || exporter);
}

export interface Telemetry {
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK from the standard `OTEL_*` variables, with the AWS SDK
 * instrumentation, so S3 calls become CLIENT spans under the C-STORE that caused them. It must
 * run before `@aws-sdk/client-s3` is first loaded, which is why the entry imports the rest of
 * the listener only afterwards. Metrics are the listener's own (see metrics.ts) and logs go to
 * stdout, so the SDK sets up neither. The SDK is loaded only when tracing is on: its exporters
 * are about 5 MB of resident memory otherwise spent on nothing.
 */
export async function startTelemetry(env: Env = process.env, spanProcessors?: SpanProcessor[]): Promise<Telemetry | undefined> {
  if (!spanProcessors && !tracingConfigured(env)) return undefined;
  const [{ startNodeSdk }, { AwsInstrumentation }] = await Promise.all([import('@opentelemetry/sdk-node'), import('@opentelemetry/instrumentation-aws-sdk')]);
  const sdk = startNodeSdk({
    resourceAttributes: { 'service.name': env['OTEL_SERVICE_NAME'] ?? 'dicom-listener' },
    instrumentations: [new AwsInstrumentation({ suppressInternalInstrumentation: true })],
    metricReaders: [],
    logRecordProcessors: [],
    ...(spanProcessors ? { spanProcessors } : {}),
  });
  return { shutdown: () => sdk.shutdown() };
}

/** Listener metrics also go out over OTLP when an endpoint is set (the collector in the cluster). */
export async function otlpMetricReaders(env: Env = process.env): Promise<IMetricReader[]> {
  if (env['OTEL_SDK_DISABLED']?.toLowerCase() === 'true' || env['OTEL_METRICS_EXPORTER']?.trim() === 'none') return [];
  if (!env['OTEL_EXPORTER_OTLP_ENDPOINT'] && !env['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']) return [];
  const [{ OTLPMetricExporter }, { PeriodicExportingMetricReader }] = await Promise.all([
    import('@opentelemetry/exporter-metrics-otlp-http'),
    import('@opentelemetry/sdk-metrics'),
  ]);
  return [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() })];
}
