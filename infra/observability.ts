import {
  Duration, RemovalPolicy, Stack, aws_cloudwatch as cloudwatch, aws_cloudwatch_actions as actions, aws_iam as iam,
  aws_kms as kms, aws_logs as logs, aws_sns as sns, aws_sns_subscriptions as subscriptions,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { AlarmThresholds } from './config.ts';
import { LISTENER_METRICS } from './telemetry-contract.ts';

/** Properties of {@link Observability}. */
export interface ObservabilityProps {
  readonly clusterName: string;
  /** Log group the collector's EMF exporter writes to. */
  readonly metricsLogGroupName: string;
  /** Key for the metrics log group and the alarm topic. */
  readonly key: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly thresholds: AlarmThresholds;
  /**
   * Addresses subscribed to the alarm topic.
   *
   * @default - no subscriptions; subscribe to the topic outside the stack
   */
  readonly alarmEmails?: readonly string[];
}

/**
 * Alarms on what a sending PACS would notice (failed stores, refused associations, an NLB with
 * no healthy listener) plus a one-screen dashboard.
 */
export class Observability extends Construct {
  readonly metricsLogGroup: logs.LogGroup;
  readonly alarmTopic: sns.Topic;
  readonly storeFailuresAlarm: cloudwatch.Alarm;
  readonly rejectedAssociationsAlarm: cloudwatch.Alarm;
  readonly unhealthyHostsAlarm: cloudwatch.Alarm;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    for (const [name, value] of Object.entries(props.thresholds)) {
      if (!Number.isInteger(value) || value < 1) throw new Error(`${this.node.path}: thresholds.${name} must be a positive integer, got ${value}`);
    }

    this.metricsLogGroup = new logs.LogGroup(this, 'MetricsLogGroup', {
      logGroupName: props.metricsLogGroupName,
      encryptionKey: props.key,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `DICOM destination alarms (${props.clusterName})`,
      masterKey: props.key,
      enforceSSL: true,
    });
    // The TLS-only topic policy replaces SNS's default one, so CloudWatch needs its own grant.
    const { account, region, partition } = Stack.of(this);
    this.alarmTopic.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsOfThisAccountPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [this.alarmTopic.topicArn],
      conditions: {
        ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
        StringEquals: { 'aws:SourceAccount': account },
      },
    }));
    for (const email of props.alarmEmails ?? []) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(email));
    }

    const { namespace, instances, associations } = LISTENER_METRICS;
    // Metrics Insights matches every series carrying the dimension, whatever other dimensions the collector adds.
    const storeFailures = insights(`SELECT SUM(${instances.metricName}) FROM ${namespace} WHERE ${instances.dimension} = '${instances.failure}'`, 'Instances refused or failed');
    const rejectedAssociations = insights(`SELECT SUM(${associations.metricName}) FROM ${namespace} WHERE ${associations.dimension} = '${associations.rejected}'`, 'Associations rejected');
    // The controller names the NLB and its target groups at runtime, so no fixed dimensions
    // exist at synth time; the query covers every NLB target group in the account and region.
    const unhealthyHosts = insights('SELECT MAX(UnHealthyHostCount) FROM SCHEMA("AWS/NetworkELB", LoadBalancer, TargetGroup)', 'Unhealthy NLB targets', Duration.minutes(1));

    // No data means nothing was sent, which is not a failure.
    const notBreaching = cloudwatch.TreatMissingData.NOT_BREACHING;
    const atLeast = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
    this.storeFailuresAlarm = storeFailures.createAlarm(this, 'StoreFailures', {
      alarmDescription: 'The listener answered C-STORE with a failure status: senders will retry or give up. Check the listener logs and S3/KMS access.',
      threshold: props.thresholds.storeFailures,
      comparisonOperator: atLeast,
      evaluationPeriods: 1,
      treatMissingData: notBreaching,
    });
    this.rejectedAssociationsAlarm = rejectedAssociations.createAlarm(this, 'RejectedAssociations', {
      alarmDescription: 'The listener rejected associations: a sender uses an unknown AE title or the listener is at its association limit.',
      threshold: props.thresholds.rejectedAssociations,
      comparisonOperator: atLeast,
      evaluationPeriods: 1,
      treatMissingData: notBreaching,
    });
    this.unhealthyHostsAlarm = unhealthyHosts.createAlarm(this, 'UnhealthyHosts', {
      alarmDescription: 'An NLB target group has unhealthy listener pods for 3 of the last 5 minutes.',
      threshold: 1,
      comparisonOperator: atLeast,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: notBreaching,
    });
    const notify = new actions.SnsAction(this.alarmTopic);
    for (const alarm of [this.storeFailuresAlarm, this.rejectedAssociationsAlarm, this.unhealthyHostsAlarm]) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.clusterName,
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            alarms: [this.storeFailuresAlarm, this.rejectedAssociationsAlarm, this.unhealthyHostsAlarm],
            width: 24,
            height: 3,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Instances by status class',
            left: [insights(`SELECT SUM(${instances.metricName}) FROM ${namespace} GROUP BY ${instances.dimension}`, '')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Associations by outcome',
            left: [insights(`SELECT SUM(${associations.metricName}) FROM ${namespace} GROUP BY ${associations.dimension}`, '')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({ title: 'Unhealthy NLB targets', left: [unhealthyHosts], width: 8 }),
        ],
      ],
    });
  }
}

function insights(query: string, label: string, period = Duration.minutes(5)): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({ expression: query, period, label });
}
