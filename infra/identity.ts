import { CfnElement, Stack, aws_iam as iam, aws_kms as kms, aws_logs as logs, aws_s3 as s3 } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { acknowledge } from './compliance.ts';
import type { DestinationRef, ServiceAccountRef } from './config.ts';
import { IrsaRole } from './irsa-role.ts';

/** Properties of {@link WorkloadIdentities}. */
export interface WorkloadIdentitiesProps {
  readonly openIdConnectProvider: iam.IOpenIdConnectProvider;
  readonly listener: ServiceAccountRef;
  readonly collector: ServiceAccountRef;
  readonly imageBucket: s3.IBucket;
  readonly imageKey: kms.IKey;
  /** Key prefix (no leading or trailing slash) the listener writes under. */
  readonly storagePrefix: string;
  /** Where the collector's EMF exporter writes metrics. */
  readonly metricsLogGroup: logs.ILogGroup;
  /**
   * DicomDestinations that each get a role like the listener's, limited to their own prefix and
   * trusted only by the ServiceAccount `<listener namespace>:<name>`.
   *
   * @default - none
   */
  readonly destinations?: readonly DestinationRef[];
}

/**
 * The IAM roles of the two workloads and of each configured DicomDestination, each usable only by
 * its own service account and each allowed only the calls that workload makes.
 */
export class WorkloadIdentities extends Construct {
  readonly listenerRole: iam.Role;
  readonly collectorRole: iam.Role;
  /** The role of each configured destination, by destination name, in config order. */
  readonly destinationRoles: ReadonlyMap<string, iam.Role>;

  constructor(scope: Construct, id: string, props: WorkloadIdentitiesProps) {
    super(scope, id);
    const listenerPolicy = storeOnlyPolicy(this, 'ListenerPolicy', props, props.storagePrefix, 'DICOM listener');
    this.listenerRole = new IrsaRole(this, 'Listener', {
      openIdConnectProvider: props.openIdConnectProvider,
      serviceAccount: props.listener,
      description: 'DICOM listener: stores received instances in S3',
      managedPolicies: [listenerPolicy],
    }).role;

    const destinationRoles = new Map<string, iam.Role>();
    for (const destination of props.destinations ?? []) {
      const label = `DicomDestination ${destination.name}`;
      const policy = storeOnlyPolicy(this, `DestinationPolicy-${destination.name}`, props, destination.prefix, label);
      destinationRoles.set(destination.name, new IrsaRole(this, `Destination-${destination.name}`, {
        openIdConnectProvider: props.openIdConnectProvider,
        serviceAccount: { namespace: props.listener.namespace, name: destination.name },
        description: `${label}: stores received instances in S3 under ${destination.prefix}/`,
        managedPolicies: [policy],
      }).role);
    }
    this.destinationRoles = destinationRoles;

    const collectorPolicy = new iam.ManagedPolicy(this, 'CollectorPolicy', {
      description: 'ADOT collector: X-Ray trace segments and EMF metrics',
      statements: [
        new iam.PolicyStatement({
          sid: 'WriteTraces',
          // X-Ray has no resource-level permissions.
          actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'WriteEmbeddedMetrics',
          actions: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
          resources: [props.metricsLogGroup.logGroupArn],
        }),
      ],
    });
    acknowledge(collectorPolicy,
      'X-Ray PutTraceSegments and PutTelemetryRecords have no resource-level permissions; the wildcard applies to those two write actions only.',
      'AwsSolutions-IAM5[Resource::*]');
    this.collectorRole = new IrsaRole(this, 'Collector', {
      openIdConnectProvider: props.openIdConnectProvider,
      serviceAccount: props.collector,
      description: 'ADOT collector: exports traces to X-Ray and metrics to CloudWatch',
      managedPolicies: [collectorPolicy],
    }).role;
  }
}

/**
 * The policy of a listener fleet: write-only to `<bucket>/<prefix>/*`, and the image key through S3
 * only. Its one wildcard finding is acknowledged on the policy.
 */
function storeOnlyPolicy(scope: Construct, id: string, props: WorkloadIdentitiesProps, prefix: string, label: string): iam.ManagedPolicy {
  if (!/^[^/](.*[^/])?$/.test(prefix)) {
    throw new Error(`${scope.node.path}/${id}: prefix must be non-empty with no leading or trailing slash, got "${prefix}"`);
  }
  const policy = new iam.ManagedPolicy(scope, id, {
    description: `${label}: write-only to s3://<images>/${prefix}/`,
    statements: [
      new iam.PolicyStatement({
        sid: 'WriteInstances',
        // PutObject also covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload.
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [props.imageBucket.arnForObjects(`${prefix}/*`)],
      }),
      new iam.PolicyStatement({
        sid: 'EncryptInstances',
        // Decrypt is needed because S3 reads the data key back to complete a multipart upload.
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [props.imageKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(scope).region}.amazonaws.com` } },
      }),
    ],
  });
  const bucketLogicalId = Stack.of(scope).getLogicalId(props.imageBucket.node.defaultChild as CfnElement);
  acknowledge(policy,
    'Every received instance is a new object under the role\'s prefix, so object ARNs are only known as prefix/*; '
    + 'the role cannot read, list or delete anything.',
    `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/${prefix}/*]`);
  return policy;
}
