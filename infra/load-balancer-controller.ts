import { Stack, aws_eks_v2 as eks, aws_iam as iam } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { acknowledge } from './compliance.ts';
import type { ServiceAccountRef } from './config.ts';
import { IrsaRole } from './irsa-role.ts';
import upstreamPolicy from './load-balancer-controller-iam-policy.json' with { type: 'json' };

/**
 * The AWS Load Balancer Controller release installed, and whose IAM policy
 * `load-balancer-controller-iam-policy.json` is (upstream `docs/install/iam_policy.json`
 * at this tag). Upgrade the chart and the policy file together.
 */
export const LOAD_BALANCER_CONTROLLER_VERSION = 'v3.2.2';
const CHART_VERSION = '3.2.2';

/** Properties of the {@link LoadBalancerController}. */
export interface LoadBalancerControllerProps {
  readonly cluster: eks.Cluster;
  readonly openIdConnectProvider: iam.IOpenIdConnectProvider;
  /** Where the controller runs; its Helm release creates this service account. */
  readonly serviceAccount: ServiceAccountRef;
}

/**
 * The AWS Load Balancer Controller, which turns the listener's `LoadBalancer` Service into
 * an NLB with IP targets (the only kind Fargate pods can be).
 */
export class LoadBalancerController extends Construct {
  readonly role: iam.Role;
  readonly chart: eks.HelmChart;

  constructor(scope: Construct, id: string, props: LoadBalancerControllerProps) {
    super(scope, id);
    const { partition, region } = Stack.of(this);

    // The upstream document names the commercial partition; rewrite it so GovCloud and China work too.
    const document = JSON.parse(JSON.stringify(upstreamPolicy).replaceAll('arn:aws:', `arn:${partition}:`));
    const policy = new iam.ManagedPolicy(this, 'Policy', {
      description: `AWS Load Balancer Controller ${LOAD_BALANCER_CONTROLLER_VERSION} (upstream iam_policy.json)`,
      document: iam.PolicyDocument.fromJson(document),
    });
    acknowledge(policy,
      `The AWS-published AWS Load Balancer Controller ${LOAD_BALANCER_CONTROLLER_VERSION} policy, unchanged: the controller `
      + 'creates load balancers, target groups and security groups whose names are only known at runtime; '
      + 'mutations are limited by the upstream tag conditions.',
      ...wildcardResources(upstreamPolicy).map((resource) => `AwsSolutions-IAM5[Resource::${resource.replace(/^arn:aws:/, 'arn:<AWS::Partition>:')}]`));

    this.role = new IrsaRole(this, 'Identity', {
      openIdConnectProvider: props.openIdConnectProvider,
      serviceAccount: props.serviceAccount,
      description: 'AWS Load Balancer Controller: manages the NLB for the DICOM listener Service',
      managedPolicies: [policy],
    }).role;

    this.chart = props.cluster.addHelmChart('LoadBalancerController', {
      chart: 'aws-load-balancer-controller',
      repository: 'https://aws.github.io/eks-charts',
      version: CHART_VERSION,
      namespace: props.serviceAccount.namespace,
      release: 'aws-load-balancer-controller',
      wait: true,
      values: {
        clusterName: props.cluster.clusterName,
        // Fargate has no instance metadata service to discover these from.
        region,
        vpcId: props.cluster.vpc.vpcId,
        serviceAccount: {
          create: true,
          name: props.serviceAccount.name,
          annotations: { 'eks.amazonaws.com/role-arn': this.role.roleArn },
        },
      },
    });
  }
}

interface PolicyJson {
  readonly Statement: ReadonlyArray<{ readonly Resource: string | readonly string[] }>;
}

/** Distinct resources with a wildcard in a policy document, as cdk-nag reports them. */
function wildcardResources(policy: PolicyJson): string[] {
  const resources = policy.Statement.flatMap((statement) => [statement.Resource].flat());
  return [...new Set(resources.filter((resource) => resource.includes('*')))];
}
