import { App, Stack, aws_kms as kms, aws_logs as logs } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import { Network } from '../../infra/network.ts';
import { logicalId, resourceOf, synthesize, type SynthesizedStack } from './stack-fixture.ts';

function subnetsOf(built: SynthesizedStack, type: 'Public' | 'Private'): Array<Record<string, unknown>> {
  const subnets = built.template.findResources('AWS::EC2::Subnet', {
    Properties: { Tags: Match.arrayWith([{ Key: 'aws-cdk:subnet-type', Value: type }]) },
  });
  return Object.values(subnets).map((subnet) => subnet.Properties);
}

describe('network', () => {
  let built: SynthesizedStack;
  let twoZones: SynthesizedStack;

  beforeAll(() => {
    // GIVEN the default three-zone stack, and a two-zone stack with a single NAT gateway
    built = synthesize();
    twoZones = synthesize({ availabilityZones: ['eu-west-1a', 'eu-west-1b'], natGateways: 1, vpcCidr: '10.50.0.0/18' });
  });

  test('the VPC spans the three configured zones with a public and a private subnet in each', () => {
    // WHEN the subnets are listed / THEN each zone has one of each kind
    expect({
      public: subnetsOf(built, 'Public').map((subnet) => subnet.AvailabilityZone),
      private: subnetsOf(built, 'Private').map((subnet) => subnet.AvailabilityZone),
    }).toEqual({
      public: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
      private: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
    });
  });

  test('there is one NAT gateway per zone by default', () => {
    // WHEN the NAT gateways are listed / THEN there are three, one in each public subnet
    const subnets = Object.values(built.template.findResources('AWS::EC2::NatGateway')).map((nat) => nat.Properties.SubnetId.Ref);
    expect(new Set(subnets).size).toBe(3);
  });

  test('each private subnet routes to the internet through the NAT gateway in its own zone', () => {
    // WHEN the private default routes are read / THEN each names a distinct NAT gateway and none an internet gateway
    const routes = Object.values(built.template.findResources('AWS::EC2::Route', {
      Properties: { RouteTableId: { Ref: Match.stringLikeRegexp('privateSubnet') } },
    })).map((route) => route.Properties);
    expect({
      nats: new Set(routes.map((route) => route.NatGatewayId?.Ref)).size,
      gateways: routes.filter((route) => route.GatewayId !== undefined).length,
    }).toEqual({ nats: 3, gateways: 0 });
  });

  test('two zones and a single NAT gateway are allowed by config', () => {
    // WHEN the two-zone stack is read / THEN it has two zones of subnets and one NAT gateway
    expect({
      zones: subnetsOf(twoZones, 'Private').map((subnet) => subnet.AvailabilityZone),
      nats: Object.keys(twoZones.template.findResources('AWS::EC2::NatGateway')).length,
      cidr: twoZones.template.findResources('AWS::EC2::VPC')[logicalId(twoZones.stack.network.vpc)]?.Properties.CidrBlock,
    }).toEqual({ zones: ['eu-west-1a', 'eu-west-1b'], nats: 1, cidr: '10.50.0.0/18' });
  });

  test('no subnet assigns public IPs on launch', () => {
    // WHEN every subnet is read / THEN none maps a public IP
    const subnets = [...subnetsOf(built, 'Public'), ...subnetsOf(built, 'Private')];
    expect(subnets.map((subnet) => subnet.MapPublicIpOnLaunch)).toEqual([false, false, false, false, false, false]);
  });

  test('an S3 gateway endpoint serves the private route tables', () => {
    // WHEN the gateway endpoint is read / THEN it is S3 and attached to every private route table
    const privateTables = Object.keys(built.template.findResources('AWS::EC2::RouteTable')).filter((id) => id.includes('private'));
    built.template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.s3']] },
      RouteTableIds: Match.arrayWith(privateTables.map((id) => ({ Ref: id }))),
    });
  });

  test('interface endpoints exist for ECR api and dkr, STS, CloudWatch Logs and X-Ray, in the private subnets', () => {
    // WHEN the interface endpoints are read
    const endpoints = Object.values(built.template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } }))
      .map((endpoint) => endpoint.Properties);
    const privateSubnets = Object.keys(built.template.findResources('AWS::EC2::Subnet')).filter((id) => id.includes('private')).map((id) => ({ Ref: id }));

    // THEN exactly these five services have private-DNS endpoints in the private subnets
    expect({
      services: endpoints.map((endpoint) => endpoint.ServiceName).sort(),
      privateDns: endpoints.every((endpoint) => endpoint.PrivateDnsEnabled === true),
      subnets: endpoints.every((endpoint) => JSON.stringify(endpoint.SubnetIds) === JSON.stringify(privateSubnets)),
    }).toEqual({
      services: ['com.amazonaws.eu-west-1.ecr.api', 'com.amazonaws.eu-west-1.ecr.dkr', 'com.amazonaws.eu-west-1.logs', 'com.amazonaws.eu-west-1.sts', 'com.amazonaws.eu-west-1.xray'],
      privateDns: true,
      subnets: true,
    });
  });

  test('the endpoint security group admits only HTTPS from the VPC CIDR', () => {
    // WHEN the endpoint security group is read / THEN its only ingress is 443 from the VPC
    expect(resourceOf(built.template, built.stack.network.endpointSecurityGroup).Properties.SecurityGroupIngress).toEqual([
      { CidrIp: '10.40.0.0/16', Description: 'HTTPS from the VPC', FromPort: 443, IpProtocol: 'tcp', ToPort: 443 },
    ]);
  });

  test('VPC flow logs capture all traffic into the KMS-encrypted flow-log group', () => {
    // WHEN the flow log is read / THEN it covers the VPC, all traffic, and delivers to the flow-log group
    built.template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceId: { Ref: logicalId(built.stack.network.vpc) },
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
      LogGroupName: { Ref: logicalId(built.stack.network.flowLogGroup) },
    });
  });

  test('the flow-log group has the configured retention and the operations key', () => {
    // WHEN the flow-log group is read / THEN it keeps logs 365 days, encrypted
    expect(resourceOf(built.template, built.stack.network.flowLogGroup).Properties).toEqual({
      RetentionInDays: 365,
      KmsKeyId: { 'Fn::GetAtt': [logicalId(built.stack.operationsKey), 'Arn'] },
    });
  });

  test('the flow-log role may write only to the flow-log group', () => {
    // WHEN the flow-log delivery policy is read / THEN it grants stream writes on that group only
    built.template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [{
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [logicalId(built.stack.network.flowLogGroup), 'Arn'] },
        }],
      },
    });
  });

  test('more NAT gateways than zones is rejected by the construct', () => {
    // GIVEN a bare stack
    const stack = new Stack(new App(), 'Bare', { env: { account: '123456789012', region: 'eu-west-1' } });

    // WHEN a two-zone network asks for three NAT gateways / THEN it throws naming the limit
    expect(() => new Network(stack, 'Network', {
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      cidr: '10.0.0.0/16',
      natGateways: 3,
      logsKey: new kms.Key(stack, 'Key'),
      logRetention: logs.RetentionDays.ONE_YEAR,
    })).toThrow(/natGateways must be from 1 to 2 \(one per zone at most\), got 3/);
  });
});
