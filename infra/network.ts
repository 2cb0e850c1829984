import { RemovalPolicy, Stack, aws_ec2 as ec2, aws_iam as iam, aws_kms as kms, aws_logs as logs } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { acknowledge } from './compliance.ts';

/** Properties of the {@link Network}. */
export interface NetworkProps {
  /** Zones to spread subnets over; two or three. */
  readonly availabilityZones: readonly string[];
  readonly cidr: string;
  /**
   * NAT gateways, placed in the first zones.
   *
   * @default - one per zone, so losing a zone never cuts the others off from the internet
   */
  readonly natGateways?: number;
  /** Key that encrypts the flow-log group. */
  readonly logsKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The VPC the cluster and its pods live in.
 *
 * Pods get private subnets only; public subnets hold the NAT gateways and an internet-facing
 * NLB when one is asked for. AWS APIs the pods call on every start (image pulls, IRSA token
 * exchange, logs, traces) stay inside the VPC through endpoints.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  readonly flowLogGroup: logs.LogGroup;
  /** Security group of the interface endpoints; open on 443 to the VPC CIDR only. */
  readonly endpointSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const zones = props.availabilityZones;
    const natGateways = props.natGateways ?? zones.length;
    if (zones.length < 2 || zones.length > 3) {
      throw new Error(`${this.node.path}: availabilityZones must list 2 or 3 zones, got ${zones.length}`);
    }
    if (!Number.isInteger(natGateways) || natGateways < 1 || natGateways > zones.length) {
      throw new Error(`${this.node.path}: natGateways must be from 1 to ${zones.length} (one per zone at most), got ${natGateways}`);
    }

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr),
      availabilityZones: [...zones],
      natGateways,
      restrictDefaultSecurityGroup: true,
      subnetConfiguration: [
        // NAT gateways and NLBs bring their own addresses; nothing else should get a public IP.
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, mapPublicIpOnLaunch: false },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      ],
    });

    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });

    // A literal CIDR (not a VPC attribute) keeps the rule checkable by cdk-nag.
    this.endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Interface endpoints: HTTPS from inside the VPC',
      allowAllOutbound: false,
    });
    this.endpointSecurityGroup.addIngressRule(ec2.Peer.ipv4(props.cidr), ec2.Port.tcp(443), 'HTTPS from the VPC');

    const interfaceEndpoints: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
      EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
      EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
      Sts: ec2.InterfaceVpcEndpointAwsService.STS,
      Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      XRay: ec2.InterfaceVpcEndpointAwsService.XRAY,
    };
    for (const [endpointId, service] of Object.entries(interfaceEndpoints)) {
      this.vpc.addInterfaceEndpoint(endpointId, {
        service,
        securityGroups: [this.endpointSecurityGroup],
        open: false,
        subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      });
    }

    this.flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', {
      encryptionKey: props.logsKey,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const flowLogRole = new iam.Role(this, 'FlowLogRole', {
      assumedBy: new iam.ServicePrincipal('vpc-flow-logs.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'VPC flow logs delivery to the flow-log group',
      managedPolicies: [
        new iam.ManagedPolicy(this, 'FlowLogPolicy', {
          description: 'VPC flow logs write to the flow-log group only',
          statements: [new iam.PolicyStatement({
            actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
            resources: [this.flowLogGroup.logGroupArn],
          })],
        }),
      ],
    });
    this.vpc.addFlowLog('FlowLog', {
      trafficType: ec2.FlowLogTrafficType.ALL,
      // The managed policy above already grants delivery; an immutable view stops CDK adding an inline copy.
      destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogGroup, flowLogRole.withoutPolicyUpdates()),
    });

    for (const subnet of this.vpc.publicSubnets) {
      acknowledge(subnet.node.findChild('DefaultRoute'),
        'Public subnets hold only the NAT gateways and an optional internet-facing NLB, which need the IGW route; '
        + 'pods run in private subnets and nothing here gets a public IP on launch.',
        'HIPAA.Security-VPCNoUnrestrictedRouteToIGW');
    }
  }
}
