import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import { logicalId, renderJoin, resourceOf, synthesize, type SynthesizedStack } from './stack-fixture.ts';

function privateSubnetRefs(built: SynthesizedStack): Array<{ Ref: string }> {
  return built.stack.network.vpc.privateSubnets.map((subnet) => ({ Ref: logicalId(subnet) }));
}

function fargateProfiles(built: SynthesizedStack): Array<Record<string, unknown>> {
  return Object.values(built.template.findResources('AWS::EKS::FargateProfile')).map((profile) => profile.Properties);
}

function helmValues(built: SynthesizedStack, chart: string): string {
  const [release] = Object.values(built.template.findResources('Custom::AWSCDK-EKS-HelmChart', { Properties: { Chart: chart } }));
  if (!release) throw new Error(`no Helm release of ${chart}`);
  return renderJoin(release.Properties.Values);
}

describe('EKS cluster', () => {
  let built: SynthesizedStack;
  let customised: SynthesizedStack;
  let clusterId: string;

  beforeAll(() => {
    // GIVEN the default stack, and one with a public endpoint and a custom listener namespace
    built = synthesize();
    customised = synthesize({ publicEndpointCidrs: ['203.0.113.0/24'], listener: { namespace: 'pacs' } });
    clusterId = logicalId(built.stack.cluster.cluster);
  });

  test('runs Kubernetes 1.36, the newest version a CDK kubectl layer covers', () => {
    // WHEN the cluster is read / THEN its version is 1.36
    expect(resourceOf(built.template, built.stack.cluster.cluster).Properties.Version).toBe('1.36');
  });

  test('the kubectl provider uses the kubectl 1.36 layer', () => {
    // WHEN the kubectl layer is read / THEN it ships kubectl 1.36
    built.template.hasResourceProperties('AWS::Lambda::LayerVersion', { Description: Match.stringLikeRegexp('^/opt/kubectl/kubectl 1\\.36\\.') });
  });

  test('the API endpoint is private only by default', () => {
    // WHEN the endpoint settings are read / THEN public access is off and private access on
    expect(resourceOf(built.template, built.stack.cluster.cluster).Properties.ResourcesVpcConfig).toMatchObject({
      EndpointPrivateAccess: true,
      EndpointPublicAccess: false,
    });
  });

  test('a public endpoint, when configured, admits only the configured CIDRs', () => {
    // WHEN the customised cluster's endpoint settings are read / THEN public access is limited to the CIDR
    expect(resourceOf(customised.template, customised.stack.cluster.cluster).Properties.ResourcesVpcConfig).toMatchObject({
      EndpointPrivateAccess: true,
      EndpointPublicAccess: true,
      PublicAccessCidrs: ['203.0.113.0/24'],
    });
  });

  test('the control plane ENIs are placed in the private subnets', () => {
    // WHEN the cluster subnets are read / THEN they are exactly the private subnets
    expect(resourceOf(built.template, built.stack.cluster.cluster).Properties.ResourcesVpcConfig).toMatchObject({ SubnetIds: privateSubnetRefs(built) });
  });

  test('all five control-plane log types are enabled', () => {
    // WHEN the logging settings are read / THEN api, audit, authenticator, controllerManager and scheduler are on
    expect(resourceOf(built.template, built.stack.cluster.cluster).Properties.Logging).toEqual({
      ClusterLogging: { EnabledTypes: [{ Type: 'api' }, { Type: 'audit' }, { Type: 'authenticator' }, { Type: 'controllerManager' }, { Type: 'scheduler' }] },
    });
  });

  test('the control-plane log group exists before the cluster, with retention and the operations key', () => {
    // WHEN the log group and the cluster's dependencies are read
    const logGroup = resourceOf(built.template, built.stack.cluster.controlPlaneLogGroup);
    const cluster = resourceOf(built.template, built.stack.cluster.cluster);

    // THEN EKS finds the group it writes to already configured
    expect({ properties: logGroup.Properties, deletion: logGroup.DeletionPolicy, dependsOnIt: (cluster.DependsOn as string[]).includes(logicalId(built.stack.cluster.controlPlaneLogGroup)) }).toEqual({
      properties: {
        LogGroupName: '/aws/eks/dicom-destination-test/cluster',
        RetentionInDays: 365,
        KmsKeyId: { 'Fn::GetAtt': [logicalId(built.stack.operationsKey), 'Arn'] },
      },
      deletion: 'Retain',
      dependsOnIt: true,
    });
  });

  test('Fargate profiles select kube-system, the listener namespace and the observability namespace', () => {
    // WHEN the Fargate profiles are read / THEN there is one per namespace, selecting only that namespace
    expect(fargateProfiles(built).map((profile) => ({ name: profile.FargateProfileName, selectors: profile.Selectors }))).toEqual([
      { name: 'kube-system', selectors: [{ Namespace: 'kube-system', Labels: [] }] },
      { name: 'dicom', selectors: [{ Namespace: 'dicom', Labels: [] }] },
      { name: 'observability', selectors: [{ Namespace: 'observability', Labels: [] }] },
    ]);
  });

  test('a configured listener namespace gets its own Fargate profile', () => {
    // WHEN the customised stack's profiles are read / THEN the listener profile selects the configured namespace
    expect(fargateProfiles(customised).map((profile) => profile.FargateProfileName)).toEqual(['kube-system', 'pacs', 'observability']);
  });

  test('every Fargate pod runs in the private subnets with the shared pod execution role', () => {
    // WHEN the profiles' subnets and roles are read / THEN all use the private subnets and one role
    const roleArn = { 'Fn::GetAtt': [logicalId(built.stack.cluster.podExecutionRole), 'Arn'] };
    expect(fargateProfiles(built).map((profile) => ({ subnets: profile.Subnets, role: profile.PodExecutionRoleArn }))).toEqual([
      { subnets: privateSubnetRefs(built), role: roleArn },
      { subnets: privateSubnetRefs(built), role: roleArn },
      { subnets: privateSubnetRefs(built), role: roleArn },
    ]);
  });

  test('the pod execution role trusts Fargate only for this cluster\'s profiles', () => {
    // WHEN the role's trust policy is read / THEN eks-fargate-pods may assume it for this cluster only
    expect(resourceOf(built.template, built.stack.cluster.podExecutionRole).Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'eks-fargate-pods.amazonaws.com' },
        Condition: {
          ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':eks:eu-west-1:123456789012:fargateprofile/dicom-destination-test/*']] } },
        },
      }],
    });
  });

  test('the Fargate log router may only write streams and events to the application log group', () => {
    // WHEN the pod execution role's policies are read
    const role = resourceOf(built.template, built.stack.cluster.podExecutionRole).Properties;
    const [, routerPolicy] = role.ManagedPolicyArns as [unknown, { Ref: string }];

    // THEN it has the AWS Fargate policy plus one statement on the application log group
    expect({
      managed: role.ManagedPolicyArns,
      router: built.template.toJSON().Resources[routerPolicy.Ref].Properties.PolicyDocument.Statement,
    }).toEqual({
      managed: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy']] },
        { Ref: routerPolicy.Ref },
      ],
      router: [{
        Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [logicalId(built.stack.cluster.applicationLogGroup), 'Arn'] },
      }],
    });
  });

  test('the admin role from config gets cluster-admin through an access entry', () => {
    // WHEN the access entries are read / THEN the configured role has the cluster-wide admin policy
    built.template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: { Ref: clusterId },
      PrincipalArn: 'arn:aws:iam::123456789012:role/platform-admin',
      AccessPolicies: [{
        AccessScope: { Type: 'cluster' },
        PolicyArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy']] },
      }],
    });
  });

  test('cluster access uses access entries only', () => {
    // WHEN the authentication mode is read / THEN it is API (no aws-auth ConfigMap)
    expect(resourceOf(built.template, built.stack.cluster.cluster).Properties.AccessConfig).toEqual({ AuthenticationMode: 'API' });
  });

  test('the AWS Load Balancer Controller is installed into kube-system with its IRSA service account', () => {
    // WHEN the controller's Helm release is read
    const release = Object.values(built.template.findResources('Custom::AWSCDK-EKS-HelmChart', { Properties: { Chart: 'aws-load-balancer-controller' } }))[0]?.Properties;

    // THEN it is the pinned chart, and its service account carries the controller role
    expect({
      repository: release?.Repository,
      version: release?.Version,
      namespace: release?.Namespace,
      values: JSON.parse(helmValues(built, 'aws-load-balancer-controller')),
    }).toEqual({
      repository: 'https://aws.github.io/eks-charts',
      version: '3.2.2',
      namespace: 'kube-system',
      values: {
        clusterName: `<Ref ${clusterId}>`,
        region: 'eu-west-1',
        vpcId: `<Ref ${logicalId(built.stack.network.vpc)}>`,
        serviceAccount: {
          create: true,
          name: 'aws-load-balancer-controller',
          annotations: { 'eks.amazonaws.com/role-arn': `<GetAtt ${logicalId(built.stack.loadBalancerController.role)}.Arn>` },
        },
      },
    });
  });

  test('metrics-server is installed for the HPA, off the kubelet port Fargate reserves', () => {
    // WHEN the metrics-server Helm release is read / THEN it runs in kube-system on container port 10251
    built.template.hasResourceProperties('Custom::AWSCDK-EKS-HelmChart', {
      Chart: 'metrics-server',
      Repository: 'https://kubernetes-sigs.github.io/metrics-server/',
      Namespace: 'kube-system',
      Values: JSON.stringify({ containerPort: 10251 }),
    });
  });
});
