/**
 * Output keys of the stack: the interface between `cdk deploy --outputs-file` and
 * `outputs-to-environment.ts`. Renaming one breaks every chart environment built from them.
 */
export const STACK_OUTPUTS = [
  'BucketName', 'KmsKeyArn', 'ListenerRoleArn', 'CollectorRoleArn', 'EcrRepositoryUri', 'ClusterName', 'Region',
  'VpcCidr', 'StoragePrefix', 'MetricsLogGroupName', 'ApplicationLogGroupName',
] as const;

export type StackOutputKey = (typeof STACK_OUTPUTS)[number];
