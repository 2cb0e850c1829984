import type { aws_iam as iam } from 'aws-cdk-lib';
import { beforeAll, describe, expect, test } from 'vitest';
import upstreamPolicy from '../../infra/load-balancer-controller-iam-policy.json' with { type: 'json' };
import { irsaTrust, logicalId, resourceOf, synthesize, withPartition, type SynthesizedStack } from './stack-fixture.ts';

const ST_MARYS = { name: 'st-marys', prefix: 'incoming/st-marys' } as const;

/** The role made for a configured destination; fails if there is none. */
function destinationRole(built: SynthesizedStack, name: string): iam.Role {
  const role = built.stack.identities.destinationRoles.get(name);
  if (role === undefined) throw new Error(`no role for destination ${name}`);
  return role;
}

function trustOf(built: SynthesizedStack, role: iam.IRole): ReturnType<typeof irsaTrust> {
  return irsaTrust(built.template, logicalId(role), logicalId(built.stack.cluster.cluster.openIdConnectProvider));
}

function expectedTrust(built: SynthesizedStack, subject: string): ReturnType<typeof irsaTrust> {
  return {
    principal: { Federated: { Ref: logicalId(built.stack.cluster.cluster.openIdConnectProvider) } },
    action: 'sts:AssumeRoleWithWebIdentity',
    stringEquals: { '<issuer>:sub': subject, '<issuer>:aud': 'sts.amazonaws.com' },
  };
}

/** The statements of the role's only managed policy; fails if the role has more policies or inline ones. */
function onlyPolicyStatements(built: SynthesizedStack, role: iam.IRole): unknown {
  const roleId = logicalId(role);
  const properties = resourceOf(built.template, role).Properties;
  const inline = Object.values(built.template.findResources('AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`));
  const managed = properties.ManagedPolicyArns as Array<{ Ref: string }>;
  if (properties.Policies !== undefined || inline.length > 0 || managed.length !== 1) {
    throw new Error(`${roleId} should have exactly one managed policy and no inline policy`);
  }
  return built.template.toJSON().Resources[managed[0]!.Ref].Properties.PolicyDocument.Statement;
}

/** A policy statement with single values as one-element arrays, so documents compare regardless of CDK's rendering. */
/** The statements of a store-only role: put and abort under `<bucket>/<prefix>/*`, the image key through S3. */
function storeOnlyStatements(built: SynthesizedStack, prefix: string): unknown[] {
  return [
    {
      Sid: 'WriteInstances',
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(built.stack.imageStore.bucket), 'Arn'] }, `/${prefix}/*`]] },
    },
    {
      Sid: 'EncryptInstances',
      Effect: 'Allow',
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: { 'Fn::GetAtt': [logicalId(built.stack.imageStore.key), 'Arn'] },
      Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
    },
  ];
}

function normalise(statement: Record<string, unknown>): Record<string, unknown> {
  const list = (value: unknown) => (value === undefined ? undefined : [value].flat());
  return { ...statement, Action: list(statement.Action), Resource: list(statement.Resource) };
}

describe('IRSA roles', () => {
  let built: SynthesizedStack;
  let renamed: SynthesizedStack;
  let withDestinations: SynthesizedStack;

  beforeAll(() => {
    // GIVEN the default stack, one whose listener service account is renamed in config,
    // and one with two destinations whose listener namespace is renamed
    built = synthesize();
    renamed = synthesize({ listener: { namespace: 'pacs', name: 'store-scp' } });
    withDestinations = synthesize({ listener: { namespace: 'pacs' }, destinations: [ST_MARYS, { name: 'north', prefix: 'north' }] });
  });

  test('the listener role trusts exactly dicom/dicom-listener with audience sts.amazonaws.com', () => {
    // WHEN the listener role's trust is read / THEN it names only that service account and audience
    expect(trustOf(built, built.stack.identities.listenerRole)).toEqual(expectedTrust(built, 'system:serviceaccount:dicom:dicom-listener'));
  });

  test('the collector role trusts exactly observability/adot-collector with audience sts.amazonaws.com', () => {
    // WHEN the collector role's trust is read / THEN it names only that service account and audience
    expect(trustOf(built, built.stack.identities.collectorRole)).toEqual(expectedTrust(built, 'system:serviceaccount:observability:adot-collector'));
  });

  test('the load balancer controller role trusts exactly kube-system/aws-load-balancer-controller with audience sts.amazonaws.com', () => {
    // WHEN the controller role's trust is read / THEN it names only that service account and audience
    expect(trustOf(built, built.stack.loadBalancerController.role)).toEqual(expectedTrust(built, 'system:serviceaccount:kube-system:aws-load-balancer-controller'));
  });

  test('a renamed listener service account is the one its role trusts', () => {
    // WHEN the renamed stack's listener trust is read / THEN it names the configured namespace and account
    expect(trustOf(renamed, renamed.stack.identities.listenerRole)).toEqual(expectedTrust(renamed, 'system:serviceaccount:pacs:store-scp'));
  });

  test('the listener may only put and abort uploads under its prefix, and use the image key through S3', () => {
    // WHEN the listener's policy is read
    // THEN it holds exactly the write actions on bucket/dicom/* and the two KMS actions on the image key
    expect(onlyPolicyStatements(built, built.stack.identities.listenerRole)).toEqual(storeOnlyStatements(built, 'dicom'));
  });

  test('the collector may only write X-Ray segments and EMF records to its metrics log group', () => {
    // WHEN the collector's policy is read / THEN it holds exactly the trace writes and the log writes on one group
    expect(onlyPolicyStatements(built, built.stack.identities.collectorRole)).toEqual([
      { Sid: 'WriteTraces', Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' },
      {
        Sid: 'WriteEmbeddedMetrics',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logicalId(built.stack.observability.metricsLogGroup), 'Arn'] },
      },
    ]);
  });

  test('the metrics log group the collector writes to is the one the charts configure', () => {
    // WHEN the metrics log group is read / THEN its name derives from the cluster name
    expect(resourceOf(built.template, built.stack.observability.metricsLogGroup).Properties.LogGroupName).toBe('/dicom-destination/dicom-destination-test/metrics');
  });

  test('the load balancer controller policy is the upstream iam_policy.json, statement for statement', () => {
    // WHEN the controller's policy is read, with the partition rendered as aws
    const statements = withPartition(onlyPolicyStatements(built, built.stack.loadBalancerController.role)) as Array<Record<string, unknown>>;

    // THEN it equals the embedded upstream document
    expect(statements.map(normalise)).toEqual(upstreamPolicy.Statement.map(normalise));
  });

  test('a destination role trusts exactly <listener namespace>/<destination name> with audience sts.amazonaws.com', () => {
    // WHEN the st-marys role's trust is read / THEN it names only that destination's service account and audience
    expect(trustOf(withDestinations, destinationRole(withDestinations, 'st-marys'))).toEqual(expectedTrust(withDestinations, 'system:serviceaccount:pacs:st-marys'));
  });

  test('a destination may only put and abort uploads under its own prefix, and use the image key through S3', () => {
    // WHEN the st-marys role's policy is read
    // THEN it is the listener's policy with the resource bucket/incoming/st-marys/*
    expect(onlyPolicyStatements(withDestinations, destinationRole(withDestinations, 'st-marys'))).toEqual(storeOnlyStatements(withDestinations, 'incoming/st-marys'));
  });

  test('each destination has its own role and policy', () => {
    // WHEN the two destination roles and their policies are read
    const roles = ['st-marys', 'north'].map((name) => destinationRole(withDestinations, name));
    const resources = roles.map((role) => (onlyPolicyStatements(withDestinations, role) as Array<{ Resource: unknown }>)[0]!.Resource);

    // THEN they are distinct roles, each scoped to its own prefix
    expect({ distinct: logicalId(roles[0]!) !== logicalId(roles[1]!), resources: resources.map((resource) => JSON.stringify(resource)) }).toEqual({
      distinct: true,
      resources: [expect.stringContaining('"/incoming/st-marys/*"'), expect.stringContaining('"/north/*"')],
    });
  });

  test('each destination role ARN is a stack output named DestinationRole<PascalCase name>', () => {
    // WHEN the destination outputs are read
    const outputs = withDestinations.template.toJSON().Outputs as Record<string, { Value: unknown; Description: string }>;
    const destinationOutputs = Object.fromEntries(Object.entries(outputs).filter(([key]) => key.startsWith('DestinationRole')));

    // THEN there is one per destination, holding its role's ARN and naming the destination and prefix
    expect(destinationOutputs).toEqual({
      DestinationRoleStMarys: {
        Value: { 'Fn::GetAtt': [logicalId(destinationRole(withDestinations, 'st-marys')), 'Arn'] },
        Description: 'IRSA role for DicomDestination st-marys (service account pacs:st-marys); writes under incoming/st-marys/',
      },
      DestinationRoleNorth: {
        Value: { 'Fn::GetAtt': [logicalId(destinationRole(withDestinations, 'north')), 'Arn'] },
        Description: 'IRSA role for DicomDestination north (service account pacs:north); writes under north/',
      },
    });
  });

  test('without destinations the stack has no destination roles', () => {
    // WHEN the default stack's destination roles are read / THEN there are none
    expect(built.stack.identities.destinationRoles.size).toBe(0);
  });

  test('adding destinations leaves every other resource unchanged', () => {
    // GIVEN the stack with the same listener namespace and no destinations
    const without = synthesize({ listener: { namespace: 'pacs' } });

    // WHEN its resources are looked up in the stack with destinations
    const before = without.template.toJSON().Resources as Record<string, unknown>;
    const after = withDestinations.template.toJSON().Resources as Record<string, unknown>;
    const changed = Object.keys(before).filter((id) => JSON.stringify(before[id]) !== JSON.stringify(after[id]));

    // THEN each is there, identical
    expect(changed).toEqual([]);
  });
});
