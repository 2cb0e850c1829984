import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, HIPAASecurityChecks, type NagPack } from 'cdk-nag';
import { beforeAll, describe, expect, test } from 'vitest';
import { applyCompliancePacks } from '../../infra/compliance.ts';
import { parseDeploymentConfig } from '../../infra/config.ts';
import { DicomDestinationStack, stackName } from '../../infra/dicom-destination-stack.ts';
import { BASE_CONFIG, testApp } from './stack-fixture.ts';

interface Acknowledgement {
  /** Construct path below the stack. */
  readonly path: string;
  readonly rule: string;
  readonly reason: string;
}

/** Every cdk-nag finding this stack acknowledges, where, and why. */
const EXPECTED_ACKNOWLEDGEMENTS: ReadonlyArray<readonly [string, string]> = [
  ['Network/Vpc/publicSubnet1/DefaultRoute', 'HIPAA.Security-VPCNoUnrestrictedRouteToIGW'],
  ['Network/Vpc/publicSubnet2/DefaultRoute', 'HIPAA.Security-VPCNoUnrestrictedRouteToIGW'],
  ['Network/Vpc/publicSubnet3/DefaultRoute', 'HIPAA.Security-VPCNoUnrestrictedRouteToIGW'],
  ['ImageStore/AccessLogs', 'HIPAA.Security-S3BucketReplicationEnabled'],
  ['ImageStore/AccessLogs', 'HIPAA.Security-S3DefaultEncryptionKMS'],
  ['ImageStore/Images', 'HIPAA.Security-S3BucketReplicationEnabled'],
  ['Cluster/PodExecutionRole', 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy]'],
  ['Cluster/Cluster/Role', 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonEKSClusterPolicy]'],
  ['Cluster/Cluster/KubectlProvider', 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'],
  ['Cluster/Cluster/KubectlProvider', 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]'],
  ['Cluster/Cluster/KubectlProvider', 'HIPAA.Security-IAMNoInlinePolicy'],
  ['Cluster/Cluster/KubectlProvider', 'HIPAA.Security-LambdaConcurrency'],
  ['Cluster/Cluster/KubectlProvider', 'HIPAA.Security-LambdaDLQ'],
  ['Cluster/Cluster/KubectlProvider/Handler', 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly]'],
  ['Cluster/Cluster/KubectlProvider/Handler', 'AwsSolutions-IAM4[Policy::{"Fn::If":["ClusterKubectlProviderHandlerHasEcrPublic6FE395CA",{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]'],
  ['Cluster/Cluster/KubectlProvider/Handler', 'AwsSolutions-L1'],
  ['Cluster/Cluster/KubectlProvider/Provider/framework-onEvent', 'AwsSolutions-IAM5[Resource::<ClusterKubectlProviderHandler93C0312D.Arn>:*]'],
  ['LoadBalancerController/Policy', 'AwsSolutions-IAM5[Resource::*]'],
  ['LoadBalancerController/Policy', 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:*:security-group/*]'],
  ['LoadBalancerController/Policy', 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:*:targetgroup/*/*]'],
  ['LoadBalancerController/Policy', 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:*:loadbalancer/net/*/*]'],
  ['LoadBalancerController/Policy', 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:*:loadbalancer/app/*/*]'],
  ['LoadBalancerController/Policy', 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:*:listener/net/*/*/*]'],
  ['LoadBalancerController/Policy', 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:*:listener/app/*/*/*]'],
  ['LoadBalancerController/Policy', 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:*:listener-rule/net/*/*/*]'],
  ['LoadBalancerController/Policy', 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:*:listener-rule/app/*/*/*]'],
  ['Identities/ListenerPolicy', 'AwsSolutions-IAM5[Resource::<ImageStoreImages57C66301.Arn>/dicom/*]'],
  ['Identities/DestinationPolicy-st-marys', 'AwsSolutions-IAM5[Resource::<ImageStoreImages57C66301.Arn>/incoming/st-marys/*]'],
  ['Identities/CollectorPolicy', 'AwsSolutions-IAM5[Resource::*]'],
];

const NAG_RULE = /^(AwsSolutions|HIPAA\.Security)-/;

/** cdk-nag acknowledgements recorded on the stack's constructs (CDK's own CloudFormation-Validate ones excluded). */
function nagAcknowledgements(stack: DicomDestinationStack): Acknowledgement[] {
  return stack.node.findAll().flatMap((construct) => construct.node.metadata
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
    .map(([id, reason]) => ({ path: construct.node.path.slice(stack.node.path.length + 1), rule: id.replace(/^Annotation::/, ''), reason }))
    .filter((acknowledgement) => NAG_RULE.test(acknowledgement.rule)));
}

/** What the packs would report with every acknowledgement ignored. */
function allFindings(app: App): Array<{ rule: string; path: string }> {
  const packs: NagPack[] = [new AwsSolutionsChecks(undefined, { verbose: false }), new HIPAASecurityChecks(undefined, { verbose: false })];
  return packs.flatMap((pack) => {
    Object.defineProperty(pack, 'isAcknowledged', { value: () => false });
    return pack.validateScope(app).violations.flatMap((violation) => violation.violatingResources
      .map((resource) => ({ rule: violation.ruleName, path: resource.constructPath ?? '' })));
  });
}

describe('cdk-nag AwsSolutions and HIPAA Security', () => {
  let app: App;
  let stack: DicomDestinationStack;

  beforeAll(() => {
    // GIVEN the stack, with one destination role, in an app with both packs registered
    app = testApp();
    const config = parseDeploymentConfig({ ...BASE_CONFIG, destinations: [{ name: 'st-marys', prefix: 'incoming/st-marys' }] });
    stack = new DicomDestinationStack(app, stackName(config), config);
    applyCompliancePacks(app);
  });

  test('synth reports no unacknowledged finding', () => {
    // WHEN the app is synthesized / THEN validation passes
    expect(() => app.synth()).not.toThrow();
  });

  test('the acknowledged findings are exactly the expected list', () => {
    // WHEN the acknowledgements are collected / THEN they are these rules on these constructs
    expect(nagAcknowledgements(stack).map(({ path, rule }) => [path, rule])).toEqual(EXPECTED_ACKNOWLEDGEMENTS);
  });

  test('every acknowledgement silences a finding the packs really raise there', () => {
    // GIVEN every finding, ignoring acknowledgements
    const findings = allFindings(app);

    // WHEN each acknowledgement is matched to findings at or below its construct
    const stale = nagAcknowledgements(stack).filter(({ path, rule }) => !findings.some((finding) => finding.rule === rule
      && (finding.path === `${stack.node.path}/${path}` || finding.path.startsWith(`${stack.node.path}/${path}/`))));

    // THEN none is stale
    expect(stale).toEqual([]);
  });

  test('no acknowledgement is made on the stack or the app as a whole', () => {
    // WHEN the acknowledgement paths are read / THEN each names a construct inside the stack
    expect(nagAcknowledgements(stack).filter(({ path }) => path === '' || !path.includes('/'))).toEqual([]);
  });

  test('every acknowledgement gives a reason of its own', () => {
    // WHEN the reasons are read / THEN each is a real sentence, and a reason is shared only by findings of one kind
    const reasons = nagAcknowledgements(stack);
    const rulesByReason = new Map<string, Set<string>>();
    for (const { reason, rule } of reasons) rulesByReason.set(reason, (rulesByReason.get(reason) ?? new Set()).add(rule.replace(/\[.*$/, '')));
    expect({
      short: reasons.filter(({ reason }) => reason.length < 60).map(({ rule }) => rule),
      sharedAcrossRules: [...rulesByReason.values()].filter((rules) => rules.size > 1).map((rules) => [...rules]),
    }).toEqual({ short: [], sharedAcrossRules: [] });
  });
});
