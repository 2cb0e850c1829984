/**
 * The controller's logic as one pure function: a DicomDestination and the children observed in
 * the cluster go in; the children to apply and the status to write come out. No I/O, no clock
 * (the time is an input), no throw: whatever is wrong with the spec becomes a Degraded condition.
 */
import { App, Chart } from 'cdk8s';
import { ListenerFleet } from '../listener-fleet.ts';
import { NlbService } from '../nlb-service.ts';
import { SYNC_WAVE_ANNOTATION } from '../sync-wave.ts';
import {
  API_VERSION,
  type Condition,
  type ConditionStatus,
  type ConditionType,
  type DicomDestination,
  type DicomDestinationStatus,
  type EndpointPort,
  KIND,
  type KubeObject,
  MANAGED_BY,
  type OwnerReference,
} from './dicom-destination.ts';
import { type DestinationSettings, validateDestination } from './validate.ts';

/** What the controller is configured with, the same for every destination it manages. */
export interface ControllerSettings {
  /** Environment name: `app.kubernetes.io/instance` and `deployment.environment.name` of every fleet. */
  readonly environmentName: string;
  /** The listener image every fleet runs (ECR, pinned). */
  readonly listenerImage: string;
  /** AWS region of the buckets and telemetry. */
  readonly region: string;
  /** IRSA role for destinations that name none. */
  readonly defaultRoleArn?: string;
  /** OTLP/HTTP endpoint of the collector. */
  readonly otlpEndpoint: string;
}

export interface ReconcileInput {
  /** The DicomDestination: metadata (name, namespace, uid, generation), spec, and the status last written. */
  readonly destination: DicomDestination;
  /** Children found in the cluster under the names `childReferences` gives; absent ones are left out. */
  readonly observed: readonly KubeObject[];
  readonly settings: ControllerSettings;
  /** The time to stamp on conditions that change. */
  readonly now: Date;
}

export interface ReconcileResult {
  /** Objects to server-side apply, in order (identity and configuration before workloads). Empty: apply nothing. */
  readonly desired: readonly KubeObject[];
  /** Status to write through the status subresource; undefined: leave it alone (the object is being deleted). */
  readonly status?: DicomDestinationStatus;
  /** Reconcile again after this long even without an event, e.g. while waiting for the NLB. */
  readonly requeueAfterSeconds?: number;
}

/** A child by coordinates: what the I/O shell reads before reconciling. */
export interface ChildReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
}

/** Apply order: identity and configuration first, then the workload, then what points at it. */
const CHILD_ORDER = ['ServiceAccount', 'ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service'];

/** The children of a destination, by name; they depend only on its name, so they are known even for an invalid spec. */
export function childReferences(destination: Pick<DicomDestination, 'metadata'>): ChildReference[] {
  const { name, namespace = 'default' } = destination.metadata;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', name, namespace },
    { apiVersion: 'v1', kind: 'ConfigMap', name: `${name}-policy`, namespace },
    { apiVersion: 'apps/v1', kind: 'Deployment', name, namespace },
    { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name, namespace },
    { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', name, namespace },
    { apiVersion: 'v1', kind: 'Service', name: `${name}-ops`, namespace },
    { apiVersion: 'v1', kind: 'Service', name, namespace },
  ];
}

export function ownerReference(destination: DicomDestination): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: destination.metadata.name,
    uid: destination.metadata.uid ?? '',
    // The garbage collector deletes the children with the destination, and not before them with blockOwnerDeletion.
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * Renders a destination's children with the same constructs as the static manifests, in an
 * in-memory cdk8s app, then marks them as the controller's: owner reference, managed-by label, and
 * no Argo CD sync-wave annotation (Argo CD does not sync them).
 */
export function renderChildren(destination: DicomDestination, settings: DestinationSettings, controller: ControllerSettings): KubeObject[] {
  const chart = new Chart(new App(), 'destination');
  const fleet = new ListenerFleet(chart, 'Listener', {
    name: settings.name,
    namespace: destination.metadata.namespace ?? 'default',
    environmentName: controller.environmentName,
    image: controller.listenerImage,
    serviceAccountRoleArn: settings.roleArn,
    region: controller.region,
    bucket: settings.bucket,
    prefix: settings.prefix,
    kmsKeyArn: settings.kmsKeyArn,
    aeTitles: settings.aeTitles,
    aePolicies: settings.aePolicies,
    allowedCallingAeTitles: settings.callingAeTitles,
    keyTemplate: settings.keyTemplate,
    maxAssociationsPerCallingAe: settings.maxAssociationsPerCallingAe,
    otlpEndpoint: controller.otlpEndpoint,
    tlsSecretName: settings.tls.mode === 'passthrough' ? settings.tls.secretName : undefined,
    tlsRequireClientCertificate: settings.tls.mode === 'passthrough' ? settings.tls.requireClientCertificate : undefined,
    fargateVcpu: settings.vcpu,
    fargateMemoryGiB: settings.memoryGiB,
    minReplicas: settings.minReplicas,
    maxReplicas: settings.maxReplicas,
    cpuTargetUtilizationPercent: settings.targetCpuUtilizationPercent,
  });
  new NlbService(chart, 'LoadBalancer', {
    fleet,
    sourceCidrs: settings.sourceRanges,
    scheme: settings.scheme,
    certificateArn: settings.tls.mode === 'nlb' ? settings.tls.certificateArn : undefined,
  });
  const owner = ownerReference(destination);
  const rendered = (chart.toJson() as Record<string, any>[]).map((object) => adopt(object, owner));
  const rank = (object: KubeObject) => CHILD_ORDER.indexOf(object.kind) * 2 + (object.kind === 'Service' && object.metadata.name === settings.name ? 1 : 0);
  return rendered.sort((a, b) => rank(a) - rank(b));
}

function adopt(object: Record<string, any>, owner: OwnerReference): KubeObject {
  const copy = structuredClone(object);
  const metadata = copy['metadata'];
  const annotations: Record<string, string> = { ...metadata.annotations };
  delete annotations[SYNC_WAVE_ANNOTATION];
  if (Object.keys(annotations).length === 0) delete metadata.annotations;
  else metadata.annotations = annotations;
  metadata.labels = { ...metadata.labels, 'app.kubernetes.io/managed-by': MANAGED_BY };
  const template = copy['spec']?.template?.metadata;
  if (template?.labels !== undefined) template.labels = { ...template.labels, 'app.kubernetes.io/managed-by': MANAGED_BY };
  metadata.ownerReferences = [owner];
  return copy as KubeObject;
}

function isControlledBy(object: KubeObject, uid: string | undefined): boolean {
  return (object.metadata.ownerReferences ?? []).some((reference) => reference.controller === true && reference.uid === uid);
}

function find(observed: readonly KubeObject[], kind: string, name: string): KubeObject | undefined {
  return observed.find((object) => object.kind === kind && object.metadata.name === name);
}

interface ConditionSpec {
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/** Conditions in a fixed order; the transition time moves only when the status does. */
function conditions(previous: readonly Condition[] | undefined, generation: number | undefined, now: Date,
  values: Record<ConditionType, ConditionSpec>): Condition[] {
  return (['Ready', 'Progressing', 'Degraded'] as const).map((type) => {
    const value = values[type];
    const before = previous?.find((condition) => condition.type === type);
    return {
      type,
      status: value.status,
      reason: value.reason,
      message: value.message,
      lastTransitionTime: before !== undefined && before.status === value.status ? before.lastTransitionTime : now.toISOString(),
      ...(generation === undefined ? {} : { observedGeneration: generation }),
    };
  });
}

/** The load balancer's address and ports, as the AWS Load Balancer Controller reports them on the Service. */
function loadBalancerOf(service: KubeObject | undefined): DicomDestinationStatus['loadBalancer'] | undefined {
  if (service === undefined) return undefined;
  const ingress = (service['status'] as any)?.loadBalancer?.ingress?.[0] as { hostname?: string; ip?: string; ports?: { port: number; protocol: string }[] } | undefined;
  const specPorts = ((service['spec'] as any)?.ports ?? []) as { name?: string; port: number; protocol?: string }[];
  const ports: EndpointPort[] = specPorts.map((port) => ({ name: port.name ?? '', port: port.port, protocol: port.protocol ?? 'TCP' }));
  if (ingress?.hostname === undefined && ingress?.ip === undefined) return undefined;
  return {
    ...(ingress.hostname === undefined ? {} : { hostname: ingress.hostname }),
    ...(ingress.ip === undefined ? {} : { ip: ingress.ip }),
    ports,
  };
}

interface Rollout {
  readonly exists: boolean;
  readonly complete: boolean;
  readonly availableReplicas: number;
  readonly stuck: string | undefined;
}

/** `kubectl rollout status` semantics on the observed Deployment. */
function rolloutOf(deployment: KubeObject | undefined): Rollout {
  if (deployment === undefined) return { exists: false, complete: false, availableReplicas: 0, stuck: undefined };
  const spec = (deployment['spec'] ?? {}) as { replicas?: number };
  const status = (deployment['status'] ?? {}) as {
    observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
  const wanted = spec.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const complete = (status.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 0)
    && updated >= wanted && (status.replicas ?? 0) <= updated && available >= updated;
  const progressing = status.conditions?.find((condition) => condition.type === 'Progressing');
  const stuck = progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded'
    ? (progressing.message ?? 'the rollout exceeded its progress deadline')
    : undefined;
  return { exists: true, complete, availableReplicas: available, stuck };
}

function failed(input: ReconcileInput, reason: string, message: string, requeueAfterSeconds?: number): ReconcileResult {
  const { destination, now } = input;
  const generation = destination.metadata.generation;
  const loadBalancer = loadBalancerOf(find(input.observed, 'Service', destination.metadata.name));
  return {
    desired: [],
    status: {
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      ...endpointFields(loadBalancer),
      conditions: conditions(destination.status?.conditions, generation, now, {
        Ready: { status: 'False', reason, message },
        Progressing: { status: 'False', reason, message: 'Nothing is applied until the problem is fixed; the children keep their last good configuration.' },
        Degraded: { status: 'True', reason, message },
      }),
    },
    ...(requeueAfterSeconds === undefined ? {} : { requeueAfterSeconds }),
  };
}

function endpointFields(loadBalancer: DicomDestinationStatus['loadBalancer'] | undefined): Pick<DicomDestinationStatus, 'endpoint' | 'loadBalancer'> {
  if (loadBalancer === undefined) return {};
  const host = loadBalancer.hostname ?? loadBalancer.ip;
  const port = loadBalancer.ports?.[0]?.port;
  return { ...(host === undefined || port === undefined ? {} : { endpoint: `${host}:${port}` }), loadBalancer };
}

const TLS_WORDS: Record<DestinationSettings['tls']['mode'], string> = {
  none: 'no TLS',
  passthrough: 'TLS terminated by the listener',
  nlb: 'TLS terminated by the NLB',
};

/**
 * Reconciles one DicomDestination.
 *
 * - Being deleted: nothing to apply and no status; the garbage collector removes the children
 *   through their owner references.
 * - Invalid spec: nothing applied, Degraded=True reason InvalidSpec listing every problem.
 * - A child name taken by an object this destination does not control: nothing applied,
 *   Degraded=True reason ChildConflict (server-side apply with force would otherwise take it over).
 * - Otherwise: every child to apply, and the status the observed children give.
 */
export function reconcile(input: ReconcileInput): ReconcileResult {
  const { destination, observed, settings, now } = input;
  if (destination.metadata.deletionTimestamp !== undefined && destination.metadata.deletionTimestamp !== null) {
    return { desired: [] };
  }
  const validation = validateDestination(destination.metadata.name, destination.spec, settings.defaultRoleArn);
  if (!validation.ok) return failed(input, 'InvalidSpec', `Invalid spec: ${validation.problems.join('; ')}`);

  let desired: KubeObject[];
  try {
    desired = renderChildren(destination, validation.settings, settings);
  } catch (error) {
    // The validation mirrors the constructs' rules; this is the net for any it misses.
    return failed(input, 'RenderFailed', `The children could not be rendered: ${(error as Error).message}`);
  }

  const foreign = desired
    .map((child) => find(observed, child.kind, child.metadata.name))
    .filter((child): child is KubeObject => child !== undefined && !isControlledBy(child, destination.metadata.uid));
  if (foreign.length > 0) {
    const names = foreign.map((child) => `${child.kind} ${child.metadata.name}`).join(', ');
    return failed(input, 'ChildConflict',
      `${names} already exist${foreign.length === 1 ? 's' : ''} and ${foreign.length === 1 ? 'is' : 'are'} not controlled by this DicomDestination; `
      + 'rename the DicomDestination or remove the object', 60);
  }

  const generation = destination.metadata.generation;
  const { name } = destination.metadata;
  const rollout = rolloutOf(find(observed, 'Deployment', name));
  const loadBalancer = loadBalancerOf(find(observed, 'Service', name));
  const endpoint = endpointFields(loadBalancer);
  const where = `${validation.settings.aeTitles.join(', ')} at ${endpoint.endpoint ?? '(no address yet)'} (${TLS_WORDS[validation.settings.tls.mode]})`;

  let ready: ConditionSpec;
  let progressing: ConditionSpec;
  if (!rollout.exists) {
    ready = { status: 'False', reason: 'Applying', message: 'The listener Deployment does not exist yet.' };
    progressing = { status: 'True', reason: 'Applying', message: 'Creating the listener fleet and its load balancer.' };
  } else {
    const lbMessage = 'Waiting for the AWS Load Balancer Controller to give the Service an NLB address.';
    if (rollout.availableReplicas === 0) {
      ready = { status: 'False', reason: 'PodsUnavailable', message: 'No listener pod is available yet.' };
    } else if (endpoint.endpoint === undefined) {
      ready = { status: 'False', reason: 'LoadBalancerPending', message: lbMessage };
    } else {
      ready = { status: 'True', reason: 'Available', message: `Accepting associations for ${where}.` };
    }
    if (!rollout.complete) {
      progressing = { status: 'True', reason: 'RollingOut', message: 'The listener Deployment is rolling out.' };
    } else if (endpoint.endpoint === undefined) {
      progressing = { status: 'True', reason: 'LoadBalancerPending', message: lbMessage };
    } else {
      progressing = { status: 'False', reason: 'Complete', message: 'Every child matches the spec.' };
    }
  }
  const degraded: ConditionSpec = rollout.stuck === undefined
    ? { status: 'False', reason: 'AsExpected', message: 'The spec is valid and every child is applied.' }
    : { status: 'True', reason: 'RolloutStuck', message: `The listener Deployment is stuck: ${rollout.stuck}` };

  return {
    desired,
    status: {
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      ...endpoint,
      conditions: conditions(destination.status?.conditions, generation, now, { Ready: ready, Progressing: progressing, Degraded: degraded }),
    },
    ...(ready.status === 'True' && progressing.status === 'False' ? {} : { requeueAfterSeconds: 30 }),
  };
}
