/**
 * Output keys of the stack: the interface between `cdk deploy --outputs-file` and
 * `outputs-to-environment.ts`. Renaming one breaks every chart environment built from them.
 */
export const STACK_OUTPUTS = [
  'BucketName', 'KmsKeyArn', 'ListenerRoleArn', 'CollectorRoleArn', 'EcrRepositoryUri', 'ControllerRepositoryUri',
  'ClusterName', 'Region', 'VpcCidr', 'StoragePrefix', 'MetricsLogGroupName', 'ApplicationLogGroupName',
] as const;

export type StackOutputKey = (typeof STACK_OUTPUTS)[number];

/**
 * Output key of the IRSA role made for one DicomDestination: `DestinationRole` and the name in
 * PascalCase (`st-marys` is `DestinationRoleStMarys`). These keys are extra; `STACK_OUTPUTS` does
 * not list them. Two names can map to one key (`a-1` and `a1`, `a--b` and `a-b`), so the config
 * rejects such pairs.
 */
export function destinationRoleOutputKey(name: string): string {
  const pascal = name.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('');
  return `DestinationRole${pascal}`;
}
