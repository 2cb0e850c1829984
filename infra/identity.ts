import { CfnElement, Stack, aws_iam as iam, aws_kms as kms, aws_logs as logs, aws_s3 as s3 } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { acknowledge } from './compliance.ts';
import type { ServiceAccountRef } from './config.ts';
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
}

/**
 * The IAM roles of the two workloads, each usable only by its own service account and each
 * allowed only the calls that workload makes.
 */
export class WorkloadIdentities extends Construct {
  readonly listenerRole: iam.Role;
  readonly collectorRole: iam.Role;

  constructor(scope: Construct, id: string, props: WorkloadIdentitiesProps) {
    super(scope, id);
    if (!/^[^/](.*[^/])?$/.test(props.storagePrefix)) {
      throw new Error(`${this.node.path}: storagePrefix must be non-empty with no leading or trailing slash, got "${props.storagePrefix}"`);
    }

    const listenerPolicy = new iam.ManagedPolicy(this, 'ListenerPolicy', {
      description: `DICOM listener: write-only to s3://<images>/${props.storagePrefix}/`,
      statements: [
        new iam.PolicyStatement({
          sid: 'WriteInstances',
          // PutObject also covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload.
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resources: [props.imageBucket.arnForObjects(`${props.storagePrefix}/*`)],
        }),
        new iam.PolicyStatement({
          sid: 'EncryptInstances',
          // Decrypt is needed because S3 reads the data key back to complete a multipart upload.
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [props.imageKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
        }),
      ],
    });
    const bucketLogicalId = Stack.of(this).getLogicalId(props.imageBucket.node.defaultChild as CfnElement);
    acknowledge(listenerPolicy,
      'Every received instance is a new object under the listener prefix, so object ARNs are only known as prefix/*; '
      + 'the role cannot read, list or delete anything.',
      `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/${props.storagePrefix}/*]`);
    this.listenerRole = new IrsaRole(this, 'Listener', {
      openIdConnectProvider: props.openIdConnectProvider,
      serviceAccount: props.listener,
      description: 'DICOM listener: stores received instances in S3',
      managedPolicies: [listenerPolicy],
    }).role;

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
