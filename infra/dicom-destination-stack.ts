import { CfnOutput, ContextProvider, Stack, cloud_assembly_schema as cxschema, cx_api, aws_kms as kms, aws_logs as logs } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DicomCluster } from './cluster.ts';
import type { DeploymentConfig } from './config.ts';
import { ImageRepository } from './container-registry.ts';
import { WorkloadIdentities } from './identity.ts';
import { LoadBalancerController } from './load-balancer-controller.ts';
import { Network } from './network.ts';
import { Observability } from './observability.ts';
import { OperationsKey } from './operations-key.ts';
import { destinationRoleOutputKey, type StackOutputKey } from './stack-outputs.ts';
import { ImageStore } from './storage.ts';
import { applicationLogGroupName, metricsLogGroupName } from './telemetry-contract.ts';

const STACK_FEATURE_FLAGS = [
  // A native AWS::IAM::OIDCProvider instead of a Lambda-backed custom resource.
  cx_api.EKS_USE_NATIVE_OIDC_PROVIDER,
  // Access-log delivery through a bucket policy; ACLs are off (object ownership enforced).
  cx_api.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY,
];

/** The stack name for a deployment; one stack per environment. */
export function stackName(config: DeploymentConfig): string {
  return `DicomDestination-${config.name}`;
}

/** Everything AWS owns for one DICOM destination environment. */
export class DicomDestinationStack extends Stack {
  /** Encrypts every log group and the alarm topic. */
  readonly operationsKey: kms.Key;
  readonly network: Network;
  readonly imageStore: ImageStore;
  readonly cluster: DicomCluster;
  readonly loadBalancerController: LoadBalancerController;
  readonly observability: Observability;
  readonly identities: WorkloadIdentities;
  /** The listener image's repository. */
  readonly listenerRepository: ImageRepository;
  /** The operator controller image's repository. */
  readonly controllerRepository: ImageRepository;

  constructor(scope: Construct, id: string, config: DeploymentConfig) {
    super(scope, id, {
      env: { account: config.account, region: config.region },
      description: `DICOM destination (${config.name}): VPC, EKS on Fargate, encrypted image bucket, IRSA roles`,
      // Keeps the template free of library-version metadata, so synth output depends only on the config.
      analyticsReporting: false,
    });
    // Set here rather than in cdk.json so tests and `cdk synth` build the same template.
    for (const flag of STACK_FEATURE_FLAGS) this.node.setContext(flag, true);
    // The config names the zones; answering CDK's zone lookup with them keeps synth offline.
    const zoneLookup = ContextProvider.getKey(this, { provider: cxschema.ContextProvider.AVAILABILITY_ZONE_PROVIDER });
    this.node.setContext(zoneLookup.key, [...config.availabilityZones]);

    const retention = config.logRetentionDays as logs.RetentionDays;
    this.operationsKey = new OperationsKey(this, 'OperationsKey').key;

    this.network = new Network(this, 'Network', {
      availabilityZones: config.availabilityZones,
      cidr: config.vpcCidr,
      natGateways: config.natGateways,
      logsKey: this.operationsKey,
      logRetention: retention,
    });

    this.imageStore = new ImageStore(this, 'ImageStore', {
      intelligentTieringAfterDays: config.intelligentTieringAfterDays,
      noncurrentVersionExpirationDays: config.noncurrentVersionExpirationDays,
    });

    this.cluster = new DicomCluster(this, 'Cluster', {
      vpc: this.network.vpc,
      clusterName: config.clusterName,
      adminRoleArn: config.adminRoleArn,
      publicEndpointCidrs: config.publicEndpointCidrs,
      workloadNamespaces: [config.listener.namespace, config.collector.namespace, config.loadBalancerController.namespace],
      applicationLogGroupName: applicationLogGroupName(config.clusterName),
      logsKey: this.operationsKey,
      logRetention: retention,
    });
    const openIdConnectProvider = this.cluster.cluster.openIdConnectProvider;

    this.loadBalancerController = new LoadBalancerController(this, 'LoadBalancerController', {
      cluster: this.cluster.cluster,
      openIdConnectProvider,
      serviceAccount: config.loadBalancerController,
    });

    this.observability = new Observability(this, 'Observability', {
      clusterName: config.clusterName,
      metricsLogGroupName: metricsLogGroupName(config.clusterName),
      key: this.operationsKey,
      logRetention: retention,
      thresholds: config.alarmThresholds,
      alarmEmails: config.alarmEmails,
    });

    this.identities = new WorkloadIdentities(this, 'Identities', {
      openIdConnectProvider,
      listener: config.listener,
      collector: config.collector,
      imageBucket: this.imageStore.bucket,
      imageKey: this.imageStore.key,
      storagePrefix: config.storagePrefix,
      metricsLogGroup: this.observability.metricsLogGroup,
      destinations: config.destinations,
    });

    // The construct IDs name the resources' logical IDs; renaming one replaces a live repository.
    this.listenerRepository = new ImageRepository(this, 'ListenerRepository', {
      repositoryName: config.ecrRepositoryName,
      maxImageCount: config.ecrMaxImageCount,
    });
    this.controllerRepository = new ImageRepository(this, 'ControllerRepository', {
      repositoryName: config.controllerEcrRepositoryName,
      maxImageCount: config.ecrMaxImageCount,
    });

    const outputs: Record<StackOutputKey, { value: string; description: string }> = {
      BucketName: { value: this.imageStore.bucket.bucketName, description: 'Image bucket' },
      KmsKeyArn: { value: this.imageStore.key.keyArn, description: 'SSE-KMS key of the image bucket' },
      ListenerRoleArn: { value: this.identities.listenerRole.roleArn, description: 'IRSA role for the listener service account' },
      CollectorRoleArn: { value: this.identities.collectorRole.roleArn, description: 'IRSA role for the ADOT collector service account' },
      EcrRepositoryUri: { value: this.listenerRepository.repository.repositoryUri, description: 'Listener image repository' },
      ControllerRepositoryUri: { value: this.controllerRepository.repository.repositoryUri, description: 'Operator controller image repository' },
      ClusterName: { value: this.cluster.cluster.clusterName, description: 'EKS cluster' },
      Region: { value: this.region, description: 'Region of every resource in this stack' },
      VpcCidr: { value: this.network.vpc.vpcCidrBlock, description: 'VPC CIDR (for in-VPC senders and network policies)' },
      StoragePrefix: { value: config.storagePrefix, description: 'Key prefix the listener role may write under' },
      MetricsLogGroupName: { value: this.observability.metricsLogGroup.logGroupName, description: 'EMF log group for the ADOT collector' },
      ApplicationLogGroupName: { value: this.cluster.applicationLogGroup.logGroupName, description: 'Log group for the Fargate log router' },
    };
    for (const [key, output] of Object.entries(outputs)) {
      new CfnOutput(this, key, output);
    }
    // Extra outputs, one per configured destination; the config guarantees the keys are distinct.
    for (const { name, prefix } of config.destinations) {
      const role = this.identities.destinationRoles.get(name);
      if (role === undefined) throw new Error(`no role was made for destination ${name}`);
      new CfnOutput(this, destinationRoleOutputKey(name), {
        value: role.roleArn,
        description: `IRSA role for DicomDestination ${name} (service account ${config.listener.namespace}:${name}); writes under ${prefix}/`,
      });
    }
  }
}
