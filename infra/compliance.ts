import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, HIPAASecurityChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * Runs cdk-nag's AwsSolutions and HIPAA Security packs at synth time.
 *
 * Any finding not acknowledged on its construct (or an ancestor) fails the synth and `cdk deploy`.
 */
export function applyCompliancePacks(app: IConstruct): void {
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: false }),
    new HIPAASecurityChecks(app, { verbose: false }),
  );
}

/**
 * Acknowledges cdk-nag findings on one construct and everything below it, for one reason.
 *
 * Rule IDs are exact findings (`AwsSolutions-IAM5[Resource::*]`); there is no prefix matching.
 */
export function acknowledge(scope: IConstruct, reason: string, ...ruleIds: string[]): void {
  for (const id of ruleIds) Validations.of(scope).acknowledge({ id, reason });
}
