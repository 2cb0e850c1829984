import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from './environment.ts';
import { FargateLogging } from './fargate-logging.ts';
import { ListenerFleet } from './listener-fleet.ts';
import { createNamespace } from './namespace.ts';
import { NlbService } from './nlb-service.ts';
import { DestinationOperator } from './operator/operator-manifests.ts';
import { OtelCollector } from './otel-collector.ts';

/** Namespace of the listener; the Fargate profile and the listener role's IRSA trust name it. */
const LISTENER_NAMESPACE = 'dicom';
/** Namespace of the collector; the Fargate profile and the collector role's IRSA trust name it. */
const COLLECTOR_NAMESPACE = 'observability';

/** Everything one environment runs on its cluster: listener fleet, NLB, collector and log routing. */
export class DestinationChart extends Chart {
  constructor(scope: Construct, environment: EnvironmentConfig) {
    super(scope, environment.name);
    // The Load Balancer Controller injects a readiness gate, so a rollout waits until new pods are
    // healthy NLB targets before the old ones stop.
    createNamespace(this, 'ListenerNamespace', LISTENER_NAMESPACE, { 'elbv2.k8s.aws/pod-readiness-gate-inject': 'enabled' });
    createNamespace(this, 'CollectorNamespace', COLLECTOR_NAMESPACE);

    const fleet = new ListenerFleet(this, 'Listener', {
      namespace: LISTENER_NAMESPACE,
      environmentName: environment.name,
      image: environment.image,
      serviceAccountRoleArn: environment.listenerRoleArn,
      region: environment.region,
      bucket: environment.bucket,
      prefix: environment.prefix,
      kmsKeyArn: environment.kmsKeyArn,
      aeTitles: environment.aeTitles,
      otlpEndpoint: OtelCollector.otlpHttpEndpointIn(COLLECTOR_NAMESPACE),
      tlsSecretName: environment.tls.mode === 'passthrough' ? environment.tls.secretName : undefined,
    });
    new OtelCollector(this, 'Collector', {
      namespace: COLLECTOR_NAMESPACE,
      environmentName: environment.name,
      serviceAccountRoleArn: environment.collectorRoleArn,
      region: environment.region,
      scrapeTargets: [{ jobName: 'dicom-listener', dnsName: fleet.opsDnsName, port: fleet.opsPort.number }],
      metricsLogGroupName: `/dicom-destination/${environment.clusterName}/metrics`,
      // infra/'s alarms read these exact dimension sets (LISTENER_METRICS in infra/telemetry-contract.ts).
      metricDeclarations: [{ metricNameSelectors: ['^dicom_'], dimensions: [[], ['status_class'], ['outcome']] }],
    });
    new NlbService(this, 'LoadBalancer', {
      fleet,
      sourceCidrs: environment.sourceCidrs,
      scheme: environment.scheme,
      certificateArn: environment.tls.mode === 'nlb' ? environment.tls.certificateArn : undefined,
    });
    new FargateLogging(this, 'Logging', {
      region: environment.region,
      logGroupName: `/dicom-destination/${environment.clusterName}/application`,
    });
    if (environment.controllerImage !== undefined) {
      // DicomDestination objects in the listener namespace become fleets of their own (docs/operator.md).
      new DestinationOperator(this, 'Operator', {
        namespace: LISTENER_NAMESPACE,
        environmentName: environment.name,
        image: environment.controllerImage,
        listenerImage: environment.image,
        region: environment.region,
        listenerRoleArn: environment.listenerRoleArn,
        otlpEndpoint: OtelCollector.otlpHttpEndpointIn(COLLECTOR_NAMESPACE),
      });
    }
  }
}
