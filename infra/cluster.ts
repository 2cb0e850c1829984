import { KubectlV36Layer } from '@aws-cdk/lambda-layer-kubectl-v36';
import {
  CfnCondition, RemovalPolicy, Stack, aws_ec2 as ec2, aws_eks_v2 as eks, aws_iam as iam, aws_kms as kms, aws_lambda as lambda,
  aws_logs as logs,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { acknowledge } from './compliance.ts';

/**
 * The Kubernetes version of the cluster.
 *
 * The newest version in EKS standard support that a published CDK kubectl layer covers
 * (`@aws-cdk/lambda-layer-kubectl-v36`; there is no v37 layer). Change both together.
 */
export const KUBERNETES_VERSION = eks.KubernetesVersion.V1_36;

/** metrics-server Helm chart (kubernetes-sigs/metrics-server), feeding the listener's HPA. */
export const METRICS_SERVER_CHART_VERSION = '3.13.0';

/** Properties of the {@link DicomCluster}. */
export interface DicomClusterProps {
  readonly vpc: ec2.IVpc;
  readonly clusterName: string;
  /** IAM role that gets cluster-admin through an access entry. */
  readonly adminRoleArn: string;
  /**
   * CIDRs that may reach a public API endpoint.
   *
   * @default - no public endpoint; the API is reachable only from inside the VPC
   */
  readonly publicEndpointCidrs?: readonly string[];
  /**
   * Namespaces whose pods run on Fargate, besides `kube-system`.
   * Each gets its own Fargate profile, named after the namespace.
   */
  readonly workloadNamespaces: readonly string[];
  /** Log group for the Fargate log router; created here so it has retention and a key. */
  readonly applicationLogGroupName: string;
  /** Key that encrypts the control-plane and application log groups. */
  readonly logsKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
}

/**
 * An EKS cluster whose every pod runs on Fargate in the private subnets.
 *
 * Access is through EKS access entries only (no aws-auth ConfigMap). metrics-server is
 * installed so the listener's HorizontalPodAutoscaler has CPU metrics.
 */
export class DicomCluster extends Construct {
  readonly cluster: eks.FargateCluster;
  /** Destination of the Fargate log router (the `aws-logging` ConfigMap). */
  readonly applicationLogGroup: logs.LogGroup;
  readonly controlPlaneLogGroup: logs.LogGroup;
  /** Runs every Fargate pod's infrastructure: image pulls and the log router. */
  readonly podExecutionRole: iam.Role;

  constructor(scope: Construct, id: string, props: DicomClusterProps) {
    super(scope, id);
    if (props.workloadNamespaces.length === 0) {
      throw new Error(`${this.node.path}: workloadNamespaces must name at least the listener's namespace`);
    }
    const { account, region, partition } = Stack.of(this);

    // EKS writes here; creating the group first is the only way to give it retention and a key.
    this.controlPlaneLogGroup = new logs.LogGroup(this, 'ControlPlaneLogGroup', {
      logGroupName: `/aws/eks/${props.clusterName}/cluster`,
      encryptionKey: props.logsKey,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.applicationLogGroup = new logs.LogGroup(this, 'ApplicationLogGroup', {
      logGroupName: props.applicationLogGroupName,
      encryptionKey: props.logsKey,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.podExecutionRole = new iam.Role(this, 'PodExecutionRole', {
      assumedBy: new iam.ServicePrincipal('eks-fargate-pods.amazonaws.com', {
        conditions: { ArnLike: { 'aws:SourceArn': `arn:${partition}:eks:${region}:${account}:fargateprofile/${props.clusterName}/*` } },
      }),
      description: `Fargate pod execution for ${props.clusterName}: image pulls and the log router`,
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonEKSFargatePodExecutionRolePolicy'),
        new iam.ManagedPolicy(this, 'LogRouterPolicy', {
          description: 'Fargate log router writes pod logs to the application log group only',
          statements: [new iam.PolicyStatement({
            // No CreateLogGroup or PutRetentionPolicy: the group, its retention and its key belong to this stack.
            actions: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
            resources: [this.applicationLogGroup.logGroupArn],
          })],
        }),
      ],
    });

    const publicCidrs = props.publicEndpointCidrs ?? [];
    const privateSubnetSelection: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    this.cluster = new eks.FargateCluster(this, 'Cluster', {
      clusterName: props.clusterName,
      version: KUBERNETES_VERSION,
      vpc: props.vpc,
      vpcSubnets: [privateSubnetSelection],
      endpointAccess: publicCidrs.length === 0
        ? eks.EndpointAccess.PRIVATE
        : eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom(...publicCidrs),
      clusterLogging: [
        eks.ClusterLoggingTypes.API,
        eks.ClusterLoggingTypes.AUDIT,
        eks.ClusterLoggingTypes.AUTHENTICATOR,
        eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
        eks.ClusterLoggingTypes.SCHEDULER,
      ],
      kubectlProviderOptions: { kubectlLayer: new KubectlV36Layer(this, 'KubectlLayer') },
      defaultProfile: this.profileFor('kube-system', props.vpc, privateSubnetSelection),
    });
    this.cluster.node.defaultChild?.node.addDependency(this.controlPlaneLogGroup);
    for (const namespace of new Set(props.workloadNamespaces)) {
      if (namespace !== 'kube-system') this.cluster.addFargateProfile(namespace, this.profileFor(namespace, props.vpc, privateSubnetSelection));
    }

    this.cluster.grantClusterAdmin('AdminAccess', props.adminRoleArn);

    this.cluster.addHelmChart('MetricsServer', {
      chart: 'metrics-server',
      repository: 'https://kubernetes-sigs.github.io/metrics-server/',
      version: METRICS_SERVER_CHART_VERSION,
      namespace: 'kube-system',
      release: 'metrics-server',
      // On Fargate the pod shares its address with the kubelet, which already holds 10250.
      values: { containerPort: 10251 },
    });

    acknowledge(this.cluster.role,
      'EKS requires AmazonEKSClusterPolicy on the cluster service role; AWS keeps it in step with the control plane.',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonEKSClusterPolicy]');
    acknowledge(this.podExecutionRole,
      'AmazonEKSFargatePodExecutionRolePolicy is the AWS policy for Fargate image pulls (ECR read only); '
      + 'log-router access is a separate customer-managed policy scoped to one log group.',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy]');
    this.acknowledgeKubectlProvider();
  }

  /**
   * The kubectl provider is CDK's deploy-time Lambda that applies the Helm charts and access
   * entries; its shape is fixed by aws-eks-v2 and it runs only during CloudFormation updates.
   */
  private acknowledgeKubectlProvider(): void {
    const provider = this.cluster.node.findChild('KubectlProvider');
    const handler = provider.node.findChild('Handler') as lambda.Function;
    const framework = provider.node.findChild('Provider').node.findChild('framework-onEvent');
    const stack = Stack.of(this);
    const handlerLogicalId = stack.resolve((handler.node.defaultChild as lambda.CfnFunction).logicalId) as string;
    // The public-ECR policy is attached only in the aws partition, so cdk-nag names it by its Fn::If.
    const ecrPublicPolicy = JSON.stringify({
      'Fn::If': [
        stack.resolve((handler.node.findChild('HasEcrPublic') as CfnCondition).logicalId),
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly']] },
        { Ref: 'AWS::NoValue' },
      ],
    });

    acknowledge(provider,
      'AWS-managed Lambda execution policies on the kubectl provider, which CDK creates and runs only during deployments.',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]');
    acknowledge(provider,
      'The kubectl provider\'s role policies are generated by aws-eks-v2 and cannot be turned into managed policies.',
      'HIPAA.Security-IAMNoInlinePolicy');
    acknowledge(provider,
      'The kubectl provider runs only while CloudFormation applies this stack; a reserved concurrency would only cap deployments.',
      'HIPAA.Security-LambdaConcurrency');
    acknowledge(provider,
      'A failed kubectl provider call fails its custom resource, and CloudFormation rolls the deployment back; '
      + 'a DLQ would only hold copies of deployment events that nobody replays.',
      'HIPAA.Security-LambdaDLQ');
    acknowledge(handler,
      'aws-eks-v2 gives the kubectl handler read-only ECR access (private, and public in the aws partition) for OCI Helm charts.',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly]',
      `AwsSolutions-IAM4[Policy::${ecrPublicPolicy}]`);
    acknowledge(handler,
      'aws-eks-v2 picks the Python runtime of the kubectl handler; it moves forward with aws-cdk-lib upgrades.',
      'AwsSolutions-L1');
    acknowledge(framework,
      'The custom-resource framework may invoke only the kubectl handler (its ARN and versions, hence the :* suffix).',
      `AwsSolutions-IAM5[Resource::<${handlerLogicalId}.Arn>:*]`);
  }

  private profileFor(namespace: string, vpc: ec2.IVpc, subnetSelection: ec2.SubnetSelection): eks.FargateProfileOptions {
    return {
      fargateProfileName: namespace,
      selectors: [{ namespace }],
      podExecutionRole: this.podExecutionRole,
      vpc,
      subnetSelection,
    };
  }
}
