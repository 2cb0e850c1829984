import { createHash } from 'node:crypto';
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { stringify } from 'yaml';
import { IAM_ROLE_ARN } from './aws-arns.ts';
import { fargateResources } from './fargate-size.ts';
import { recommendedLabels, selectorLabels } from './labels.ts';
import { SyncWave, syncWave } from './sync-wave.ts';
import { restrictedSecurityContext } from './security-context.ts';

/** AWS Distro for OpenTelemetry collector, pinned by tag and by digest. */
export const ADOT_COLLECTOR_IMAGE =
  'public.ecr.aws/aws-observability/aws-otel-collector:v0.47.0@sha256:40a7eb9bfa58871d5d6dbdfcb146bc9d7eb4f149b42bd653809cd5b980af0cc4';

const NAME = 'adot-collector';
/** The image's `aoc` user; numeric so `runAsNonRoot` can be verified. */
const USER_ID = 4317;
const OTLP_GRPC_PORT = 4317;
const OTLP_HTTP_PORT = 4318;
const HEALTH_PORT = 13133;
const CONFIG_DIR = '/etc/adot';

/** Which metrics become CloudWatch metrics, and under which exact dimension sets. */
export interface EmfMetricDeclaration {
  /** Regular expressions matched against metric names. */
  readonly metricNameSelectors: readonly string[];
  /** Dimension sets to publish; `[]` publishes the metric without dimensions. */
  readonly dimensions: readonly (readonly string[])[];
}

/** A Prometheus endpoint the collector scrapes, found through DNS (A records of a headless Service). */
export interface PrometheusTarget {
  readonly jobName: string;
  readonly dnsName: string;
  readonly port: number;
}

export interface OtelCollectorProps {
  /** Namespace the collector runs in; a Fargate profile must select it. */
  readonly namespace: string;
  /** Environment name, recorded as `app.kubernetes.io/instance`. */
  readonly environmentName: string;
  /** IAM role the collector assumes through IRSA (X-Ray PutTraceSegments, CloudWatch Logs for EMF). */
  readonly serviceAccountRoleArn: string;
  /** Region of X-Ray and CloudWatch. */
  readonly region: string;
  /**
   * Prometheus endpoints to scrape into the metrics pipeline.
   * @default - none; only OTLP metrics are exported
   */
  readonly scrapeTargets?: readonly PrometheusTarget[];
  /**
   * CloudWatch metrics namespace of the EMF exporter.
   * @default 'DicomDestination'
   */
  readonly metricsNamespace?: string;
  /** CloudWatch Logs group the EMF records are written to (created, with retention and key, by infra/). */
  readonly metricsLogGroupName: string;
  /**
   * Metrics published as CloudWatch metrics, each with exactly the declared dimension sets (alarms
   * match dimension sets exactly). Undeclared metrics stay queryable in the EMF log records only.
   * @default - every metric, with the exporter's zero- and single-dimension rollups
   */
  readonly metricDeclarations?: readonly EmfMetricDeclaration[];
  /**
   * Collector image.
   * @default - ADOT_COLLECTOR_IMAGE
   */
  readonly image?: string;
  /**
   * vCPUs of the Fargate size the collector runs on.
   * @default 0.5
   */
  readonly fargateVcpu?: number;
  /**
   * Memory of the Fargate size the collector runs on.
   * @default 1
   */
  readonly fargateMemoryGiB?: number;
}

/**
 * An ADOT collector Deployment (Fargate runs no DaemonSets) with its own IRSA ServiceAccount. It
 * receives OTLP on 4317/4318, sends traces to X-Ray and metrics to CloudWatch as EMF.
 */
export class OtelCollector extends Construct {
  /** OTLP/HTTP endpoint for SDKs (`OTEL_EXPORTER_OTLP_ENDPOINT`) of the collector in `namespace`. */
  public static otlpHttpEndpointIn(namespace: string): string {
    return `http://${NAME}.${namespace}.svc.cluster.local:${OTLP_HTTP_PORT}`;
  }

  constructor(scope: Construct, id: string, props: OtelCollectorProps) {
    super(scope, id);
    const owner = `OtelCollector ${this.node.path}`;
    const image = props.image ?? ADOT_COLLECTOR_IMAGE;
    if (!/(:[\w][\w.-]*)?@sha256:[0-9a-f]{64}$/.test(image) || /:latest@/.test(image)) {
      throw new Error(`${owner}: image must be pinned by digest (<repository>:<tag>@sha256:<digest>), got "${image}"`);
    }
    if (!IAM_ROLE_ARN.test(props.serviceAccountRoleArn)) {
      throw new Error(`${owner}: serviceAccountRoleArn must be an IAM role ARN, got "${props.serviceAccountRoleArn}"`);
    }
    const resources = fargateResources(owner, props.fargateVcpu ?? 0.5, props.fargateMemoryGiB ?? 1);
    const scrapeTargets = props.scrapeTargets ?? [];

    const labels = recommendedLabels(NAME, 'telemetry', props.environmentName);
    const selector = selectorLabels(NAME, props.environmentName);
    const metadata = (wave: SyncWave, annotations: Record<string, string> = {}) => ({
      name: NAME, namespace: props.namespace, labels, annotations: { ...syncWave(wave), ...annotations },
    });

    const serviceAccount: IServiceAccount = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: metadata(SyncWave.FOUNDATION, { 'eks.amazonaws.com/role-arn': props.serviceAccountRoleArn }),
    };
    new ApiObject(this, 'ServiceAccount', serviceAccount);

    const receivers: Record<string, unknown> = {
      otlp: {
        protocols: {
          grpc: { endpoint: `0.0.0.0:${OTLP_GRPC_PORT}` },
          http: { endpoint: `0.0.0.0:${OTLP_HTTP_PORT}` },
        },
      },
    };
    if (scrapeTargets.length > 0) {
      receivers['prometheus'] = {
        config: {
          scrape_configs: scrapeTargets.map((target) => ({
            job_name: target.jobName,
            scrape_interval: '60s',
            dns_sd_configs: [{ names: [target.dnsName], type: 'A', port: target.port }],
          })),
        },
      };
    }
    const collectorConfig = {
      extensions: { health_check: { endpoint: `0.0.0.0:${HEALTH_PORT}` } },
      receivers,
      processors: {
        memory_limiter: { check_interval: '1s', limit_percentage: 80, spike_limit_percentage: 25 },
        // X-Ray accepts at most 50 segments per PutTraceSegments call.
        'batch/traces': { timeout: '1s', send_batch_size: 50 },
        'batch/metrics': { timeout: '60s' },
      },
      exporters: {
        awsxray: { region: props.region },
        awsemf: {
          region: props.region,
          namespace: props.metricsNamespace ?? 'DicomDestination',
          log_group_name: props.metricsLogGroupName,
          ...(props.metricDeclarations === undefined ? {} : {
            // Declared sets only: rollups would add sets (with OTelLib) that no alarm reads but every one is billed.
            dimension_rollup_option: 'NoDimensionRollup',
            metric_declarations: props.metricDeclarations.map((declaration) => ({
              dimensions: declaration.dimensions.map((set) => [...set]),
              metric_name_selectors: [...declaration.metricNameSelectors],
            })),
          }),
        },
      },
      service: {
        extensions: ['health_check'],
        pipelines: {
          traces: { receivers: ['otlp'], processors: ['memory_limiter', 'batch/traces'], exporters: ['awsxray'] },
          metrics: {
            receivers: scrapeTargets.length > 0 ? ['otlp', 'prometheus'] : ['otlp'],
            processors: ['memory_limiter', 'batch/metrics'],
            exporters: ['awsemf'],
          },
        },
      },
    };
    const configYaml = stringify(collectorConfig, { lineWidth: 0 });
    const configMap: IConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: metadata(SyncWave.FOUNDATION),
      data: { 'collector.yaml': configYaml },
    };
    new ApiObject(this, 'Config', configMap);

    const healthProbe = { httpGet: { path: '/', port: 'health' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 };
    const deployment: IDeployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(SyncWave.WORKLOAD),
      spec: {
        // One replica: each replica would scrape every target, so a second would double every metric.
        replicas: 1,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: {
            labels,
            annotations: { 'checksum/config': createHash('sha256').update(configYaml).digest('hex') },
          },
          spec: {
            serviceAccountName: NAME,
            // IRSA needs the pod's service-account token.
            automountServiceAccountToken: true,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: USER_ID,
              runAsGroup: USER_ID,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [{
              name: 'collector',
              image,
              imagePullPolicy: 'IfNotPresent',
              args: [`--config=${CONFIG_DIR}/collector.yaml`],
              ports: [
                { name: 'otlp-grpc', containerPort: OTLP_GRPC_PORT, protocol: 'TCP' },
                { name: 'otlp-http', containerPort: OTLP_HTTP_PORT, protocol: 'TCP' },
                { name: 'health', containerPort: HEALTH_PORT, protocol: 'TCP' },
              ],
              resources: { requests: { ...resources }, limits: { ...resources } },
              readinessProbe: healthProbe,
              livenessProbe: healthProbe,
              securityContext: restrictedSecurityContext(USER_ID),
              volumeMounts: [{ name: 'config', mountPath: CONFIG_DIR, readOnly: true }],
            }],
            volumes: [{ name: 'config', configMap: { name: NAME } }],
          },
        },
      },
    };
    new ApiObject(this, 'Deployment', deployment);

    const service: IService = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(SyncWave.WORKLOAD),
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [
          { name: 'otlp-grpc', port: OTLP_GRPC_PORT, targetPort: 'otlp-grpc', protocol: 'TCP', appProtocol: 'grpc' },
          { name: 'otlp-http', port: OTLP_HTTP_PORT, targetPort: 'otlp-http', protocol: 'TCP', appProtocol: 'http' },
        ],
      },
    };
    new ApiObject(this, 'Service', service);
  }
}
