import { createHash } from 'node:crypto';
import type { Template } from 'aws-cdk-lib/assertions';

/**
 * What `cdk deploy --outputs-file` would write for a template, with made-up physical IDs in
 * the shape CloudFormation gives them. Evaluates only the intrinsics the stack's outputs use.
 */
export function fakeDeployOutputs(template: Template, stackName: string, account: string, region: string): Record<string, Record<string, string>> {
  const { Resources: resources, Outputs: outputs } = template.toJSON() as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    Outputs: Record<string, { Value: unknown }>;
  };
  const suffix = (id: string) => createHash('sha256').update(id).digest('hex');
  const pseudo: Record<string, string> = { 'AWS::Region': region, 'AWS::AccountId': account, 'AWS::Partition': 'aws', 'AWS::URLSuffix': 'amazonaws.com' };

  const ref = (id: string): string => {
    if (pseudo[id] !== undefined) return pseudo[id];
    const { Type: type, Properties: properties = {} } = resources[id] ?? { Type: 'missing' };
    switch (type) {
      case 'AWS::S3::Bucket': return `${stackName}-${id}-${suffix(id).slice(0, 12)}`.toLowerCase().slice(0, 63);
      case 'AWS::ECR::Repository': return String(properties.RepositoryName);
      case 'AWS::EKS::Cluster': return String(properties.Name);
      case 'AWS::Logs::LogGroup': return String(properties.LogGroupName);
      default: throw new Error(`fake deploy cannot Ref ${id} (${type})`);
    }
  };
  const getAtt = (id: string, attribute: string): string => {
    const { Type: type, Properties: properties = {} } = resources[id] ?? { Type: 'missing' };
    const key = `${type}.${attribute}`;
    const hex = suffix(id);
    switch (key) {
      case 'AWS::KMS::Key.Arn': return `arn:aws:kms:${region}:${account}:key/${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
      case 'AWS::IAM::Role.Arn': return `arn:aws:iam::${account}:role/${`${stackName}-${id}`.slice(0, 51)}-${hex.slice(0, 12).toUpperCase()}`;
      case 'AWS::ECR::Repository.Arn': return `arn:aws:ecr:${region}:${account}:repository/${String(properties.RepositoryName)}`;
      case 'AWS::EC2::VPC.CidrBlock': return String(properties.CidrBlock);
      default: throw new Error(`fake deploy cannot GetAtt ${key}`);
    }
  };
  const evaluate = (value: unknown): unknown => {
    if (typeof value === 'string' || typeof value === 'number') return value;
    const [[fn, args]] = Object.entries(value as Record<string, unknown>) as [[string, unknown]];
    switch (fn) {
      case 'Ref': return ref(args as string);
      case 'Fn::GetAtt': return getAtt(...(args as [string, string]));
      case 'Fn::Join': return (args as [string, unknown[]])[1].map(evaluate).join((args as [string])[0]);
      case 'Fn::Split': return String(evaluate((args as [string, unknown])[1])).split((args as [string])[0]);
      case 'Fn::Select': return (evaluate((args as [number, unknown])[1]) as unknown[])[(args as [number])[0]];
      default: throw new Error(`fake deploy cannot evaluate ${fn}`);
    }
  };

  return { [stackName]: Object.fromEntries(Object.entries(outputs).map(([key, output]) => [key, String(evaluate(output.Value))])) };
}
