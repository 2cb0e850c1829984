import { App, type CfnElement, Stack, cx_api } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { parseDeploymentConfig, type DeploymentConfig } from '../../infra/config.ts';
import { DicomDestinationStack, stackName } from '../../infra/dicom-destination-stack.ts';

/** The smallest valid deployment config; everything else takes its default. */
export const BASE_CONFIG = {
  name: 'test',
  account: '123456789012',
  region: 'eu-west-1',
  availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  adminRoleArn: 'arn:aws:iam::123456789012:role/platform-admin',
} as const;

export interface SynthesizedStack {
  readonly app: App;
  readonly config: DeploymentConfig;
  readonly stack: DicomDestinationStack;
  readonly template: Template;
}

/**
 * An app that references assets in place instead of copying them into the cloud assembly:
 * the template is the same, and each synth skips copying the ~60 MB kubectl and awscli layers.
 */
export function testApp(): App {
  return new App({ context: { [cx_api.DISABLE_ASSET_STAGING_CONTEXT]: true } });
}

/** Builds the stack from BASE_CONFIG plus overrides, without the cdk-nag packs. */
export function synthesize(overrides: Record<string, unknown> = {}): SynthesizedStack {
  const app = testApp();
  const config = parseDeploymentConfig({ ...BASE_CONFIG, ...overrides });
  const stack = new DicomDestinationStack(app, stackName(config), config);
  return { app, config, stack, template: Template.fromStack(stack) };
}

/** Logical ID of a construct's CloudFormation resource (its default child, or the construct itself). */
export function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(construct).resolve(element.logicalId) as string;
}

/** The template resource behind a construct. */
export function resourceOf(template: Template, construct: IConstruct): { Type: string; Properties: Record<string, unknown>; [key: string]: unknown } {
  const id = logicalId(construct);
  const resource = template.toJSON().Resources[id];
  if (!resource) throw new Error(`no resource ${id} in the template`);
  return resource;
}

/**
 * Renders an `Fn::Join` of literal strings and `{ Ref: 'AWS::Partition' }` as a plain string
 * (partition `aws`), recursively, so policy documents compare with their JSON sources.
 */
export function withPartition(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withPartition);
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const join = record['Fn::Join'] as [string, unknown[]] | undefined;
    if (join && Object.keys(record).length === 1 && join[1].every((part) => typeof part === 'string' || isPartition(part))) {
      return join[1].map((part) => (typeof part === 'string' ? part : 'aws')).join(join[0]);
    }
    return Object.fromEntries(Object.entries(record).map(([key, entry]) => [key, withPartition(entry)]));
  }
  return value;
}

/**
 * Renders a string property that may be an `Fn::Join` of literals and references as one string,
 * writing references as `<Ref id>`, `<GetAtt id.attr>` and pseudo parameters as `<AWS::Region>`.
 */
export function renderJoin(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`not a string or Fn::Join: ${JSON.stringify(value)}`);
  return join[1].map((part) => {
    if (typeof part === 'string') return part;
    const { Ref: ref, 'Fn::GetAtt': getAtt } = part as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
    if (ref !== undefined) return ref.startsWith('AWS::') ? `<${ref}>` : `<Ref ${ref}>`;
    if (getAtt !== undefined) return `<GetAtt ${getAtt.join('.')}>`;
    throw new Error(`unexpected part: ${JSON.stringify(part)}`);
  }).join(join[0]);
}

function isPartition(part: unknown): boolean {
  return typeof part === 'object' && part !== null && (part as { Ref?: string }).Ref === 'AWS::Partition';
}

/**
 * The trust conditions of an IRSA role, with the OIDC issuer written as `<issuer>`.
 *
 * The role's `StringEquals` is a CfnJson value (the issuer is only known at deploy time); this
 * reassembles it and checks that every non-literal part is the issuer of `providerId`.
 */
export function irsaTrust(template: Template, roleId: string, providerId: string): { principal: unknown; action: unknown; stringEquals: unknown } {
  const resources = template.toJSON().Resources;
  const statements = resources[roleId].Properties.AssumeRolePolicyDocument.Statement;
  if (statements.length !== 1) throw new Error(`${roleId} has ${statements.length} trust statements`);
  const [statement] = statements;
  const [jsonId, attribute] = statement.Condition.StringEquals['Fn::GetAtt'];
  if (attribute !== 'Value' || resources[jsonId].Type !== 'Custom::AWSCDKCfnJson') throw new Error(`${roleId} trust is not a CfnJson value`);
  const issuer = { 'Fn::Select': [1, { 'Fn::Split': [':oidc-provider/', { Ref: providerId }] }] };
  const [separator, parts] = resources[jsonId].Properties.Value['Fn::Join'] as [string, unknown[]];
  const text = parts.map((part) => {
    if (typeof part === 'string') return part;
    if (JSON.stringify(part) !== JSON.stringify(issuer)) throw new Error(`unexpected part in ${jsonId}: ${JSON.stringify(part)}`);
    return '<issuer>';
  }).join(separator);
  return { principal: statement.Principal, action: statement.Action, stringEquals: JSON.parse(text) };
}
