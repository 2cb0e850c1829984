import type { aws_cloudwatch as cloudwatch } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import { logicalId, renderJoin, resourceOf, synthesize, type SynthesizedStack } from './stack-fixture.ts';

interface Widget {
  readonly properties: { readonly title: string; readonly alarms?: string[]; readonly metrics?: Array<[{ expression: string }]> };
}

describe('observability', () => {
  let built: SynthesizedStack;
  let topicId: string;

  const alarmProperties = (alarm: cloudwatch.Alarm) => resourceOf(built.template, alarm).Properties;

  beforeAll(() => {
    // GIVEN a stack with custom thresholds and one alarm subscriber
    built = synthesize({ alarmThresholds: { storeFailures: 2, rejectedAssociations: 10 }, alarmEmails: ['pacs-oncall@example.org'], logRetentionDays: 731 });
    topicId = logicalId(built.stack.observability.alarmTopic);
  });

  test('store failures alarm on any dicom_instances_total series with status_class=failure', () => {
    // WHEN the store-failure alarm is read / THEN it sums the failures over five minutes against the configured threshold
    const properties = alarmProperties(built.stack.observability.storeFailuresAlarm);
    expect({
      expression: (properties.Metrics as Array<{ Expression: string; Period: number }>).map(({ Expression, Period }) => ({ Expression, Period })),
      threshold: properties.Threshold,
      comparison: properties.ComparisonOperator,
      periods: properties.EvaluationPeriods,
      missing: properties.TreatMissingData,
    }).toEqual({
      expression: [{ Expression: "SELECT SUM(dicom_instances_total) FROM DicomDestination WHERE status_class = 'failure'", Period: 300 }],
      threshold: 2,
      comparison: 'GreaterThanOrEqualToThreshold',
      periods: 1,
      missing: 'notBreaching',
    });
  });

  test('rejected associations alarm on any dicom_associations_total series with outcome=rejected', () => {
    // WHEN the rejected-association alarm is read / THEN it sums rejections over five minutes against the configured threshold
    const properties = alarmProperties(built.stack.observability.rejectedAssociationsAlarm);
    expect({
      expression: (properties.Metrics as Array<{ Expression: string; Period: number }>).map(({ Expression, Period }) => ({ Expression, Period })),
      threshold: properties.Threshold,
      comparison: properties.ComparisonOperator,
      missing: properties.TreatMissingData,
    }).toEqual({
      expression: [{ Expression: "SELECT SUM(dicom_associations_total) FROM DicomDestination WHERE outcome = 'rejected'", Period: 300 }],
      threshold: 10,
      comparison: 'GreaterThanOrEqualToThreshold',
      missing: 'notBreaching',
    });
  });

  test('NLB unhealthy hosts alarm when a target group has unhealthy targets for 3 of 5 minutes', () => {
    // WHEN the unhealthy-host alarm is read / THEN it watches UnHealthyHostCount of NLB target groups
    const properties = alarmProperties(built.stack.observability.unhealthyHostsAlarm);
    expect({
      expression: (properties.Metrics as Array<{ Expression: string; Period: number }>).map(({ Expression, Period }) => ({ Expression, Period })),
      threshold: properties.Threshold,
      evaluation: [properties.DatapointsToAlarm, properties.EvaluationPeriods],
    }).toEqual({
      expression: [{ Expression: 'SELECT MAX(UnHealthyHostCount) FROM SCHEMA("AWS/NetworkELB", LoadBalancer, TargetGroup)', Period: 60 }],
      threshold: 1,
      evaluation: [3, 5],
    });
  });

  test('every alarm notifies the alarm topic when it fires and when it clears', () => {
    // WHEN the alarms' actions are read / THEN each sends ALARM and OK to the topic
    const alarms = [built.stack.observability.storeFailuresAlarm, built.stack.observability.rejectedAssociationsAlarm, built.stack.observability.unhealthyHostsAlarm];
    expect(alarms.map((alarm) => [alarmProperties(alarm).AlarmActions, alarmProperties(alarm).OKActions])).toEqual(
      alarms.map(() => [[{ Ref: topicId }], [{ Ref: topicId }]]),
    );
  });

  test('the alarm topic is encrypted with the operations key', () => {
    // WHEN the topic is read / THEN its master key is the operations key
    expect(resourceOf(built.template, built.stack.observability.alarmTopic).Properties.KmsMasterKeyId)
      .toEqual({ 'Fn::GetAtt': [logicalId(built.stack.operationsKey), 'Arn'] });
  });

  test('the alarm topic refuses publishes that are not TLS', () => {
    // WHEN the topic policy is read / THEN it denies aws:SecureTransport=false
    built.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('the configured address is subscribed to the alarm topic', () => {
    // WHEN the subscriptions are read / THEN the on-call address gets email
    built.template.hasResourceProperties('AWS::SNS::Subscription', { TopicArn: { Ref: topicId }, Protocol: 'email', Endpoint: 'pacs-oncall@example.org' });
  });

  test('CloudWatch alarms of this account may publish to the alarm topic', () => {
    // WHEN the topic policy is read / THEN it grants the CloudWatch service sns:Publish for this account's alarms only
    built.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([{
          Sid: 'CloudWatchAlarmsOfThisAccountPublish',
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: { Ref: topicId },
          Condition: {
            ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:eu-west-1:123456789012:alarm:*']] } },
            StringEquals: { 'aws:SourceAccount': '123456789012' },
          },
        }]),
      },
    });
  });

  test('the operations key lets CloudWatch Logs and CloudWatch alarms use it, and rotates', () => {
    // WHEN the operations key is read
    const key = resourceOf(built.template, built.stack.operationsKey).Properties;
    const services = (key.KeyPolicy as { Statement: Array<{ Principal: { Service?: string } }> }).Statement
      .map((statement) => statement.Principal.Service)
      .filter((service) => service !== undefined);

    // THEN the logs and alarm services are the only service principals
    expect({ rotation: key.EnableKeyRotation, services }).toEqual({ rotation: true, services: ['logs.eu-west-1.amazonaws.com', 'cloudwatch.amazonaws.com'] });
  });

  test('every log group has the configured retention, the operations key and survives stack deletion', () => {
    // WHEN all log groups are read
    const groups = Object.values(built.template.findResources('AWS::Logs::LogGroup'));

    // THEN there are four (flow logs, control plane, application, metrics) and all are retained and encrypted
    expect(groups.map((group) => ({ retention: group.Properties.RetentionInDays, key: group.Properties.KmsKeyId, deletion: group.DeletionPolicy }))).toEqual(
      [1, 2, 3, 4].map(() => ({ retention: 731, key: { 'Fn::GetAtt': [logicalId(built.stack.operationsKey), 'Arn'] }, deletion: 'Retain' })),
    );
  });

  test('a dashboard shows the alarms and the listener and NLB metrics', () => {
    // WHEN the dashboard body is rendered
    const dashboard = resourceOf(built.template, built.stack.observability.dashboard).Properties;
    const { widgets } = JSON.parse(renderJoin(dashboard.DashboardBody)) as { widgets: Widget[] };

    // THEN it is named after the cluster and has the alarm status and the three graphs
    expect({
      name: dashboard.DashboardName,
      widgets: widgets.map(({ properties }) => [properties.title, properties.alarms ?? properties.metrics?.map(([metric]) => metric.expression)]),
    }).toEqual({
      name: 'dicom-destination-test',
      widgets: [
        ['Alarms', [built.stack.observability.storeFailuresAlarm, built.stack.observability.rejectedAssociationsAlarm, built.stack.observability.unhealthyHostsAlarm]
          .map((alarm) => `<GetAtt ${logicalId(alarm)}.Arn>`)],
        ['Instances by status class', ['SELECT SUM(dicom_instances_total) FROM DicomDestination GROUP BY status_class']],
        ['Associations by outcome', ['SELECT SUM(dicom_associations_total) FROM DicomDestination GROUP BY outcome']],
        ['Unhealthy NLB targets', ['SELECT MAX(UnHealthyHostCount) FROM SCHEMA("AWS/NetworkELB", LoadBalancer, TargetGroup)']],
      ],
    });
  });
});
