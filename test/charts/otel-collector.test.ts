import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { ADOT_COLLECTOR_IMAGE, OtelCollector, type OtelCollectorProps } from '../../charts/otel-collector.ts';
import { find, type KubeObject, synthIn } from './fixtures.ts';

const BASE: OtelCollectorProps = {
  namespace: 'observability',
  environmentName: 'test',
  serviceAccountRoleArn: 'arn:aws:iam::111122223333:role/collector',
  region: 'eu-west-1',
  metricsLogGroupName: '/dicom-destination/test/metrics',
};

function synthCollector(overrides: Partial<OtelCollectorProps> = {}): KubeObject[] {
  return synthIn((chart) => new OtelCollector(chart, 'collector', { ...BASE, ...overrides }));
}

function collectorConfig(objects: KubeObject[]) {
  return parse(find(objects, 'ConfigMap', 'adot-collector').data['collector.yaml']);
}

describe('OtelCollector', () => {
  test('runs the ADOT image pinned by tag and digest, as a Deployment', () => {
    // GIVEN default props WHEN synthesized
    const objects = synthCollector();
    const deployment = find(objects, 'Deployment', 'adot-collector');
    // THEN the pinned public ECR image runs in a Deployment (Fargate has no DaemonSets)
    expect(ADOT_COLLECTOR_IMAGE).toMatch(/^public\.ecr\.aws\/aws-observability\/aws-otel-collector:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$/);
    expect(deployment.spec.template.spec.containers[0].image).toBe(ADOT_COLLECTOR_IMAGE);
    expect(objects.map((object) => object.kind)).not.toContain('DaemonSet');
  });

  test('assumes its own IRSA role through the adot-collector ServiceAccount in observability', () => {
    // GIVEN a collector role WHEN synthesized
    const objects = synthCollector();
    const account = find(objects, 'ServiceAccount', 'adot-collector');
    // THEN the account carries the role and the pod uses it with a token
    expect(account.metadata).toMatchObject({ namespace: 'observability', annotations: { 'eks.amazonaws.com/role-arn': BASE.serviceAccountRoleArn } });
    expect(find(objects, 'Deployment', 'adot-collector').spec.template.spec).toMatchObject({
      serviceAccountName: 'adot-collector',
      automountServiceAccountToken: true,
    });
  });

  test('receives OTLP over gRPC on 4317 and HTTP on 4318, behind a ClusterIP Service', () => {
    // GIVEN default props WHEN synthesized
    const objects = synthCollector();
    // THEN both receivers listen and the Service exposes both ports
    expect(collectorConfig(objects).receivers.otlp.protocols).toEqual({
      grpc: { endpoint: '0.0.0.0:4317' },
      http: { endpoint: '0.0.0.0:4318' },
    });
    expect(find(objects, 'Service', 'adot-collector').spec.ports.map((port: { port: number }) => port.port)).toEqual([4317, 4318]);
  });

  test('sends traces to X-Ray and metrics to CloudWatch EMF in the DicomDestination namespace', () => {
    // GIVEN default props WHEN synthesized
    const config = collectorConfig(synthCollector());
    // THEN the pipelines end in awsxray and awsemf
    expect(config.service.pipelines.traces.exporters).toEqual(['awsxray']);
    expect(config.service.pipelines.metrics.exporters).toEqual(['awsemf']);
    expect(config.exporters.awsxray).toEqual({ region: 'eu-west-1' });
    expect(config.exporters.awsemf).toEqual({ region: 'eu-west-1', namespace: 'DicomDestination', log_group_name: '/dicom-destination/test/metrics' });
  });

  test('publishes declared metrics with exactly their dimension sets', () => {
    // GIVEN a declaration for the listener counters WHEN synthesized
    const config = collectorConfig(synthCollector({ metricDeclarations: [{ metricNameSelectors: ['^dicom_'], dimensions: [[], ['outcome']] }] }));
    // THEN rollups are off and the declaration is rendered
    expect(config.exporters.awsemf).toMatchObject({
      dimension_rollup_option: 'NoDimensionRollup',
      metric_declarations: [{ metric_name_selectors: ['^dicom_'], dimensions: [[], ['outcome']] }],
    });
  });

  test('scrapes Prometheus targets found through DNS into the metrics pipeline', () => {
    // GIVEN a scrape target WHEN synthesized
    const config = collectorConfig(synthCollector({ scrapeTargets: [{ jobName: 'listener', dnsName: 'ops.dicom.svc.cluster.local', port: 8080 }] }));
    // THEN the prometheus receiver resolves it and feeds the metrics pipeline
    expect(config.receivers.prometheus.config.scrape_configs).toEqual([{
      job_name: 'listener',
      scrape_interval: '60s',
      dns_sd_configs: [{ names: ['ops.dicom.svc.cluster.local'], type: 'A', port: 8080 }],
    }]);
    expect(config.service.pipelines.metrics.receivers).toEqual(['otlp', 'prometheus']);
  });

  test('runs as the image non-root user, read-only, requesting exactly a Fargate size', () => {
    // GIVEN default props WHEN synthesized
    const container = find(synthCollector(), 'Deployment', 'adot-collector').spec.template.spec.containers[0];
    // THEN the container is locked down and sized to 0.5 vCPU / 1 GiB
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 4317, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container.resources).toEqual({ requests: { cpu: '500m', memory: '768Mi' }, limits: { cpu: '500m', memory: '768Mi' } });
  });

  test('exposes the OTLP/HTTP endpoint SDKs should use', () => {
    expect(OtelCollector.otlpHttpEndpointIn('observability')).toBe('http://adot-collector.observability.svc.cluster.local:4318');
  });

  test('rejects an image that is not pinned by digest', () => {
    expect(() => synthCollector({ image: 'public.ecr.aws/aws-observability/aws-otel-collector:latest' }))
      .toThrow(/image must be pinned by digest/);
  });

  test('rejects a role that is not an IAM role ARN', () => {
    expect(() => synthCollector({ serviceAccountRoleArn: 'collector' })).toThrow(/serviceAccountRoleArn must be an IAM role ARN/);
  });
});
