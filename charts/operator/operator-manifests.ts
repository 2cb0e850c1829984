import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { IAM_ROLE_ARN } from '../aws-arns.ts';
import { fargateResources } from '../fargate-size.ts';
import { ecrImageProblem } from '../image-reference.ts';
import { recommendedLabels, selectorLabels } from '../labels.ts';
import { SyncWave, syncWave } from '../sync-wave.ts';
import { createDicomDestinationCrd } from './crd.ts';
import { GROUP, PLURAL } from './dicom-destination.ts';
import { restrictedSecurityContext } from '../security-context.ts';

export const CONTROLLER_NAME = 'dicom-destination-controller';
/** The image's node user, by number so `runAsNonRoot` can be verified. */
const USER_ID = 1000;
const OPS_PORT = 8080;

export interface DestinationOperatorProps {
  /** Namespace the controller runs in and watches; a Fargate profile must select it. */
  readonly namespace: string;
  /** Environment name, for labels and the fleets' telemetry. */
  readonly environmentName: string;
  /** The controller image (`charts/operator/Dockerfile`), ECR, pinned by tag or digest. */
  readonly image: string;
  /** The listener image every DicomDestination's fleet runs. */
  readonly listenerImage: string;
  /** AWS region of the fleets. */
  readonly region: string;
  /** IRSA role of fleets whose DicomDestination names none. */
  readonly listenerRoleArn: string;
  /** OTLP/HTTP endpoint the fleets send telemetry to. */
  readonly otlpEndpoint: string;
}

/**
 * The DicomDestination operator: its CRD, a ServiceAccount with a Role limited to the namespace it
 * manages, and the controller Deployment (one replica, Fargate-sized, non-root, read-only root).
 */
export class DestinationOperator extends Construct {
  constructor(scope: Construct, id: string, props: DestinationOperatorProps) {
    super(scope, id);
    const owner = `DestinationOperator ${this.node.path}`;
    for (const [field, image] of [['image', props.image], ['listenerImage', props.listenerImage]] as const) {
      const problem = ecrImageProblem(image);
      if (problem !== undefined) throw new Error(`${owner}: ${field} ${problem}`);
    }
    if (!IAM_ROLE_ARN.test(props.listenerRoleArn)) {
      throw new Error(`${owner}: listenerRoleArn must be an IAM role ARN, got "${props.listenerRoleArn}"`);
    }
    // Informers, one work queue and in-memory rendering fit in the smallest Fargate size with room to spare.
    const resources = fargateResources(owner, 0.25, 1);
    const labels = recommendedLabels(CONTROLLER_NAME, 'operator', props.environmentName);
    const metadata = (wave: SyncWave) => ({ name: CONTROLLER_NAME, namespace: props.namespace, labels, annotations: syncWave(wave) });

    createDicomDestinationCrd(this, 'Crd', props.environmentName);

    const serviceAccount: IServiceAccount = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: metadata(SyncWave.FOUNDATION),
    };
    new ApiObject(this, 'ServiceAccount', serviceAccount);

    // Only what reconciling needs, only in this namespace: no delete (the garbage collector removes
    // children through owner references) and no Secrets (the TLS Secret is referenced by name only).
    const role: IRole = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: metadata(SyncWave.WORKLOAD),
      rules: [
        { apiGroups: [GROUP], resources: [PLURAL], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [GROUP], resources: [`${PLURAL}/status`], verbs: ['patch'] },
        // Setting blockOwnerDeletion needs update on the owner's finalizers (OwnerReferencesPermissionEnforcement).
        { apiGroups: [GROUP], resources: [`${PLURAL}/finalizers`], verbs: ['update'] },
        // Watched: their changes (rollout progress, the NLB address) move the status.
        { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
        { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
        // Server-side apply creates with PATCH, which needs create as well as patch.
        { apiGroups: [''], resources: ['serviceaccounts', 'configmaps'], verbs: ['get', 'create', 'patch'] },
        { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['get', 'create', 'patch'] },
        { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['get', 'create', 'patch'] },
      ],
    };
    new ApiObject(this, 'Role', role);

    const binding: IRoleBinding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: metadata(SyncWave.WORKLOAD),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: CONTROLLER_NAME },
      subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_NAME, namespace: props.namespace }],
    };
    new ApiObject(this, 'RoleBinding', binding);

    const probe = (path: string) => ({ httpGet: { path, port: 'ops' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 });
    const deployment: IDeployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(SyncWave.WORKLOAD),
      spec: {
        // One controller at a time: Recreate stops the old pod before the new one starts, so no leader election is needed.
        replicas: 1,
        selector: { matchLabels: selectorLabels(CONTROLLER_NAME, props.environmentName) },
        strategy: { type: 'Recreate' },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: CONTROLLER_NAME,
            // The controller talks to the API server with its service-account token.
            automountServiceAccountToken: true,
            terminationGracePeriodSeconds: 30,
            securityContext: { runAsNonRoot: true, runAsUser: USER_ID, runAsGroup: USER_ID, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'controller',
              image: props.image,
              imagePullPolicy: 'IfNotPresent',
              env: [
                { name: 'WATCH_NAMESPACE', value: props.namespace },
                { name: 'ENVIRONMENT_NAME', value: props.environmentName },
                { name: 'LISTENER_IMAGE', value: props.listenerImage },
                { name: 'LISTENER_ROLE_ARN', value: props.listenerRoleArn },
                { name: 'LISTENER_OTLP_ENDPOINT', value: props.otlpEndpoint },
                { name: 'AWS_REGION', value: props.region },
                { name: 'OPS_PORT', value: String(OPS_PORT) },
              ],
              ports: [{ name: 'ops', containerPort: OPS_PORT, protocol: 'TCP' }],
              resources: { requests: { ...resources }, limits: { ...resources } },
              livenessProbe: probe('/healthz'),
              readinessProbe: probe('/readyz'),
              securityContext: restrictedSecurityContext(USER_ID),
            }],
          },
        },
      },
    };
    new ApiObject(this, 'Deployment', deployment);
  }
}
