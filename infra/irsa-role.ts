import { CfnJson, aws_iam as iam } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { ServiceAccountRef } from './config.ts';

/** Properties of an {@link IrsaRole}. */
export interface IrsaRoleProps {
  /** The cluster's IAM OIDC provider. */
  readonly openIdConnectProvider: iam.IOpenIdConnectProvider;
  /** The one service account allowed to assume the role. */
  readonly serviceAccount: ServiceAccountRef;
  /** What the role is for; shown in the IAM console. */
  readonly description: string;
  /**
   * Customer-managed policies attached to the role.
   *
   * @default - the role can do nothing until policies are attached with `role.addManagedPolicy`
   */
  readonly managedPolicies?: iam.IManagedPolicy[];
}

/**
 * An IAM role for one Kubernetes service account (IRSA).
 *
 * The trust policy pins both `sub` and `aud`, so neither another service account in the
 * cluster nor a token minted for another audience can assume it.
 */
export class IrsaRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: IrsaRoleProps) {
    super(scope, id);
    const { namespace, name } = props.serviceAccount;
    if (!namespace || !name) throw new Error(`${this.node.path}: serviceAccount needs both a namespace and a name`);

    const issuer = props.openIdConnectProvider.openIdConnectProviderIssuer;
    // The issuer is only known at deploy time and CloudFormation keys cannot be intrinsics.
    const conditions = new CfnJson(this, 'TrustConditions', {
      value: {
        [`${issuer}:sub`]: `system:serviceaccount:${namespace}:${name}`,
        [`${issuer}:aud`]: 'sts.amazonaws.com',
      },
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.OpenIdConnectPrincipal(props.openIdConnectProvider, { StringEquals: conditions }),
      description: props.description,
      managedPolicies: props.managedPolicies,
    });
  }
}
