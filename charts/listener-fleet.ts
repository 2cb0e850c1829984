import { createHash } from 'node:crypto';
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { IAM_ROLE_ARN } from './aws-arns.ts';
import { fargateResources } from './fargate-size.ts';
import { ecrImageProblem } from './image-reference.ts';
import { recommendedLabels, selectorLabels } from './labels.ts';
import { type CalledAePolicy, renderListenerPolicy } from './listener-policy.ts';
import { SyncWave, syncWave } from './sync-wave.ts';
import { requireWholeNumber } from './validate.ts';
import { restrictedSecurityContext } from './security-context.ts';

/** A named container port. */
export interface NamedPort {
  readonly name: string;
  readonly number: number;
}

export const DICOM_PORT: NamedPort = { name: 'dicom', number: 11112 };
export const DICOM_TLS_PORT: NamedPort = { name: 'dicom-tls', number: 2762 };
export const OPS_PORT: NamedPort = { name: 'ops', number: 8080 };

/** Default object name, and the service name the listener reports to telemetry. */
const NAME = 'dicom-listener';
/** A Service name must be a DNS-1035 label; `<name>-policy` and `<name>-ops` must stay valid too. */
const FLEET_NAME = /^[a-z]([-a-z0-9]{0,45}[a-z0-9])?$/;
/** The node user of the official Node image; numeric so `runAsNonRoot` can be verified. */
const USER_ID = 1000;
const POLICY_DIR = '/etc/dicom/policy';
const TLS_DIR = '/etc/dicom/tls';
const IRSA_ROLE_ANNOTATION = 'eks.amazonaws.com/role-arn';
/** Time the process needs after draining: closing telemetry exporters and the last S3 commits. */
const DEFAULT_SHUTDOWN_MARGIN_SECONDS = 15;
const MIN_SHUTDOWN_MARGIN_SECONDS = 5;

export interface ListenerFleetProps {
  /**
   * Name of the fleet's objects (`<name>`, `<name>-policy`, `<name>-ops`) and its
   * `app.kubernetes.io/name` label, so two fleets in one namespace never select each other's pods.
   * @default 'dicom-listener'
   */
  readonly name?: string;
  /** Namespace the fleet runs in; a Fargate profile must select it. */
  readonly namespace: string;
  /** Environment name, recorded as `app.kubernetes.io/instance` and `deployment.environment.name`. */
  readonly environmentName: string;
  /** `<ecr repository>:<immutable tag>` or `<ecr repository>@sha256:<digest>`. */
  readonly image: string;
  /** IAM role the pods assume through IRSA. */
  readonly serviceAccountRoleArn: string;
  /** AWS region for the SDK (`AWS_REGION`). */
  readonly region: string;
  /** Bucket every instance is stored in. */
  readonly bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash; empty for the bucket root. */
  readonly prefix: string;
  /** Local AE titles the listener answers to. */
  readonly aeTitles: readonly string[];
  /**
   * Per-AE access and routing written to the policy file; each entry names one of `aeTitles`, and
   * what it leaves out falls back to the fleet-wide settings.
   * @default - every AE title with the fleet-wide settings
   */
  readonly aePolicies?: readonly CalledAePolicy[];
  /**
   * Calling AE titles allowed to associate (`DICOM_ALLOWED_CALLING_AE_TITLES`).
   * @default - any calling AE title
   */
  readonly allowedCallingAeTitles?: readonly string[];
  /**
   * Object key template (`STORAGE_KEY_TEMPLATE`).
   * @default - the listener's default, `{prefix}/{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm`
   */
  readonly keyTemplate?: string;
  /** OTLP/HTTP endpoint of the collector, e.g. `http://adot-collector.observability.svc.cluster.local:4318`. */
  readonly otlpEndpoint: string;
  /**
   * KMS key for SSE-KMS.
   * @default - the bucket's default encryption
   */
  readonly kmsKeyArn?: string;
  /**
   * S3 storage class of stored instances.
   * @default 'INTELLIGENT_TIERING'
   */
  readonly storageClass?: string;
  /**
   * A kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) for the listener to terminate DICOM TLS
   * itself, so mutual TLS works end to end. When set, the pod serves only TLS on 2762.
   * @default - no TLS in the pod; plain DICOM on 11112 (TLS, if any, ends at the load balancer)
   */
  readonly tlsSecretName?: string;
  /**
   * Whether callers must present a certificate signed by the Secret's ca.crt.
   * @default true
   */
  readonly tlsRequireClientCertificate?: boolean;
  /**
   * Per-calling-AE association cap written to the policy file.
   * @default - no per-calling-AE cap; the listener's global DICOM_MAX_ASSOCIATIONS still applies
   */
  readonly maxAssociationsPerCallingAe?: number;
  /**
   * vCPUs of the Fargate size each pod runs on.
   * @default 1
   */
  readonly fargateVcpu?: number;
  /**
   * Memory of the Fargate size each pod runs on.
   * @default 2
   */
  readonly fargateMemoryGiB?: number;
  /**
   * Fewest pods; at least 2 so one can be disrupted while the other keeps accepting.
   * @default 2
   */
  readonly minReplicas?: number;
  /**
   * Most pods the autoscaler may run.
   * @default 10
   */
  readonly maxReplicas?: number;
  /**
   * Average CPU utilisation the autoscaler aims for.
   * @default 70
   */
  readonly cpuTargetUtilizationPercent?: number;
  /**
   * Average memory utilisation the autoscaler aims for.
   * @default 80
   */
  readonly memoryTargetUtilizationPercent?: number;
  /**
   * How long load must stay low before the autoscaler removes a pod. Associations are long-lived
   * and a removed pod drains them, so scale-down is slow on purpose.
   * @default 1800
   */
  readonly scaleDownStabilizationSeconds?: number;
  /**
   * How long in-flight associations may finish after SIGTERM (`DRAIN_TIMEOUT_SECONDS`).
   * @default 60
   */
  readonly drainTimeoutSeconds?: number;
  /**
   * Pause before SIGTERM so the load balancer stops routing new connections to a terminating pod first.
   * @default 10
   */
  readonly preStopDelaySeconds?: number;
  /**
   * Time from termination to SIGKILL; must cover the pre-stop pause, the drain and a shutdown margin.
   * @default - preStopDelaySeconds + drainTimeoutSeconds + 15
   */
  readonly terminationGracePeriodSeconds?: number;
}

/**
 * The DICOM listener: its IRSA ServiceAccount, policy ConfigMap, Deployment, autoscaler,
 * disruption budget and a headless ops Service the collector scrapes.
 */
export class ListenerFleet extends Construct {
  /** Name of the Deployment, ServiceAccount, autoscaler and disruption budget. */
  public readonly name: string;
  public readonly namespace: string;
  /** Labels every object of the fleet carries. */
  public readonly labels: Readonly<Record<string, string>>;
  /** Labels the pods are selected by. */
  public readonly selectorLabels: Readonly<Record<string, string>>;
  /** The pod port DICOM clients reach: TLS when the pod terminates TLS, plain otherwise. */
  public readonly dicomPort: NamedPort;
  public readonly opsPort: NamedPort = OPS_PORT;
  public readonly terminationGracePeriodSeconds: number;
  /** DNS name that resolves to every ready pod's IP, for Prometheus DNS discovery. */
  public readonly opsDnsName: string;

  constructor(scope: Construct, id: string, props: ListenerFleetProps) {
    super(scope, id);
    const owner = `ListenerFleet ${this.node.path}`;
    const name = props.name ?? NAME;
    if (!FLEET_NAME.test(name)) {
      throw new Error(`${owner}: name must be a DNS-1035 label of at most 47 characters, got "${name}"`);
    }
    const imageProblem = ecrImageProblem(props.image);
    if (imageProblem !== undefined) throw new Error(`${owner}: image ${imageProblem}`);
    if (!IAM_ROLE_ARN.test(props.serviceAccountRoleArn)) {
      throw new Error(`${owner}: serviceAccountRoleArn must be an IAM role ARN, got "${props.serviceAccountRoleArn}"`);
    }
    if (props.aeTitles.length === 0) throw new Error(`${owner}: aeTitles must list at least one AE title`);
    const aePolicies = props.aePolicies ?? [];
    const stray = aePolicies.find((policy) => !props.aeTitles.includes(policy.aeTitle));
    if (stray !== undefined) throw new Error(`${owner}: aePolicies names "${stray.aeTitle}", which is not one of aeTitles`);
    const resources = fargateResources(owner, props.fargateVcpu ?? 1, props.fargateMemoryGiB ?? 2);
    const minReplicas = requireWholeNumber(owner, 'minReplicas', props.minReplicas ?? 2, 2, 1000);
    const maxReplicas = requireWholeNumber(owner, 'maxReplicas', props.maxReplicas ?? 10, minReplicas, 1000);
    const cpuTarget = requireWholeNumber(owner, 'cpuTargetUtilizationPercent', props.cpuTargetUtilizationPercent ?? 70, 1, 100);
    const memoryTarget = requireWholeNumber(owner, 'memoryTargetUtilizationPercent', props.memoryTargetUtilizationPercent ?? 80, 1, 100);
    // The HPA API caps stabilization windows at one hour.
    const scaleDownWindow = requireWholeNumber(owner, 'scaleDownStabilizationSeconds', props.scaleDownStabilizationSeconds ?? 1800, 0, 3600);
    const drain = requireWholeNumber(owner, 'drainTimeoutSeconds', props.drainTimeoutSeconds ?? 60, 0, 3600);
    const preStop = requireWholeNumber(owner, 'preStopDelaySeconds', props.preStopDelaySeconds ?? 10, 0, 300);
    const minimumGrace = preStop + drain + MIN_SHUTDOWN_MARGIN_SECONDS;
    // The NLB deregistration delay is set to the grace period, and the NLB allows at most 3600 s.
    this.terminationGracePeriodSeconds = requireWholeNumber(owner, 'terminationGracePeriodSeconds',
      props.terminationGracePeriodSeconds ?? preStop + drain + DEFAULT_SHUTDOWN_MARGIN_SECONDS, minimumGrace, 3600);
    if (props.maxAssociationsPerCallingAe !== undefined) {
      requireWholeNumber(owner, 'maxAssociationsPerCallingAe', props.maxAssociationsPerCallingAe, 1, 10_000);
    }

    const labels = recommendedLabels(name, 'listener', props.environmentName);
    this.name = name;
    this.namespace = props.namespace;
    this.labels = labels;
    this.selectorLabels = selectorLabels(name, props.environmentName);
    const tls = props.tlsSecretName !== undefined;
    this.dicomPort = tls ? DICOM_TLS_PORT : DICOM_PORT;
    this.opsDnsName = `${name}-ops.${props.namespace}.svc.cluster.local`;
    const metadata = (name: string, wave: SyncWave, annotations: Record<string, string> = {}) => ({
      name, namespace: props.namespace, labels, annotations: { ...syncWave(wave), ...annotations },
    });

    const serviceAccount: IServiceAccount = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: metadata(name, SyncWave.FOUNDATION, { [IRSA_ROLE_ANNOTATION]: props.serviceAccountRoleArn }),
    };
    new ApiObject(this, 'ServiceAccount', serviceAccount);

    const policyYaml = renderListenerPolicy({
      aeTitles: props.aeTitles.map((aeTitle) => aePolicies.find((policy) => policy.aeTitle === aeTitle) ?? { aeTitle }),
      ...(props.maxAssociationsPerCallingAe === undefined ? {} : { maxAssociationsPerCallingAe: props.maxAssociationsPerCallingAe }),
    });
    const policyName = `${name}-policy`;
    const policy: IConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: metadata(policyName, SyncWave.FOUNDATION),
      data: { 'policy.yaml': policyYaml },
    };
    new ApiObject(this, 'Policy', policy);

    const storageUrl = `s3://${props.bucket}${props.prefix === '' ? '' : `/${props.prefix}`}`;
    const env: IEnvVar[] = [
      { name: 'DICOM_AE_TITLE', value: props.aeTitles.join(',') },
      { name: 'DICOM_PORT', value: tls ? 'off' : String(DICOM_PORT.number) },
      ...(props.allowedCallingAeTitles === undefined ? [] : [{ name: 'DICOM_ALLOWED_CALLING_AE_TITLES', value: props.allowedCallingAeTitles.join(',') }]),
      ...(tls ? [
        { name: 'DICOM_TLS_PORT', value: String(DICOM_TLS_PORT.number) },
        { name: 'DICOM_TLS_CERT_FILE', value: `${TLS_DIR}/tls.crt` },
        { name: 'DICOM_TLS_KEY_FILE', value: `${TLS_DIR}/tls.key` },
        { name: 'DICOM_TLS_CA_FILE', value: `${TLS_DIR}/ca.crt` },
        { name: 'DICOM_TLS_REQUIRE_CLIENT_CERT', value: String(props.tlsRequireClientCertificate ?? true) },
      ] : []),
      { name: 'DICOM_POLICY_FILE', value: `${POLICY_DIR}/policy.yaml` },
      { name: 'OPS_PORT', value: String(OPS_PORT.number) },
      { name: 'DRAIN_TIMEOUT_SECONDS', value: String(drain) },
      { name: 'STORAGE_URL', value: storageUrl },
      ...(props.keyTemplate === undefined ? [] : [{ name: 'STORAGE_KEY_TEMPLATE', value: props.keyTemplate }]),
      ...(props.kmsKeyArn === undefined ? [] : [{ name: 'S3_SSE_KMS_KEY_ID', value: props.kmsKeyArn }]),
      { name: 'S3_STORAGE_CLASS', value: props.storageClass ?? 'INTELLIGENT_TIERING' },
      { name: 'AWS_REGION', value: props.region },
      { name: 'OTEL_SERVICE_NAME', value: NAME },
      { name: 'OTEL_RESOURCE_ATTRIBUTES', value: `service.namespace=dicom-destination,deployment.environment.name=${props.environmentName}` },
      { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: props.otlpEndpoint },
      { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/protobuf' },
      { name: 'OTEL_TRACES_EXPORTER', value: 'otlp' },
      // Logs go to stdout, where the Fargate log router ships them; the collector has no logs pipeline.
      { name: 'OTEL_LOGS_EXPORTER', value: 'none' },
    ];

    const volumes: IVolume[] = [{ name: 'policy', configMap: { name: policyName } }];
    const volumeMounts: IVolumeMount[] = [{ name: 'policy', mountPath: POLICY_DIR, readOnly: true }];
    if (tls) {
      // 0440 plus fsGroup: the key is readable by the listener's group only.
      volumes.push({ name: 'tls', secret: { secretName: props.tlsSecretName, defaultMode: 0o440 } });
      volumeMounts.push({ name: 'tls', mountPath: TLS_DIR, readOnly: true });
    }

    const container: IContainer = {
      name: 'listener',
      image: props.image,
      imagePullPolicy: 'IfNotPresent',
      ports: [this.dicomPort, OPS_PORT].map((port) => ({ name: port.name, containerPort: port.number, protocol: 'TCP' })),
      env,
      resources: { requests: { ...resources }, limits: { ...resources } },
      readinessProbe: {
        httpGet: { path: '/readyz', port: OPS_PORT.name },
        periodSeconds: 5,
        timeoutSeconds: 2,
        failureThreshold: 2,
      },
      livenessProbe: {
        httpGet: { path: '/healthz', port: OPS_PORT.name },
        periodSeconds: 10,
        timeoutSeconds: 2,
        failureThreshold: 3,
      },
      lifecycle: preStop > 0 ? { preStop: { sleep: { seconds: preStop } } } : undefined,
      securityContext: restrictedSecurityContext(USER_ID),
      volumeMounts,
    };

    const deployment: IDeployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(name, SyncWave.WORKLOAD),
      spec: {
        // No replicas: the HorizontalPodAutoscaler owns the count.
        selector: { matchLabels: { ...this.selectorLabels } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: {
            labels,
            // A policy change must roll the pods; the listener reads the file once at start.
            annotations: { 'checksum/policy': createHash('sha256').update(policyYaml).digest('hex') },
          },
          spec: {
            serviceAccountName: name,
            // IRSA needs the pod's service-account token.
            automountServiceAccountToken: true,
            terminationGracePeriodSeconds: this.terminationGracePeriodSeconds,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: USER_ID,
              runAsGroup: USER_ID,
              fsGroup: USER_ID,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            // Fargate ignores this today (zones follow the profile's subnets); it is soft so it never blocks scheduling.
            topologySpreadConstraints: [{
              maxSkew: 1,
              topologyKey: 'topology.kubernetes.io/zone',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: { ...this.selectorLabels } },
            }],
            containers: [container],
            volumes,
          },
        },
      },
    };
    new ApiObject(this, 'Deployment', deployment);

    const autoscaler: IHorizontalPodAutoscaler = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: metadata(name, SyncWave.WORKLOAD),
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
        minReplicas,
        maxReplicas,
        metrics: [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: cpuTarget } } },
          { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: memoryTarget } } },
        ],
        behavior: {
          scaleDown: {
            stabilizationWindowSeconds: scaleDownWindow,
            selectPolicy: 'Min',
            policies: [{ type: 'Pods', value: 1, periodSeconds: 300 }],
          },
        },
      },
    };
    new ApiObject(this, 'Autoscaler', autoscaler);

    const disruptionBudget: IPodDisruptionBudget = {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: metadata(name, SyncWave.WORKLOAD),
      spec: {
        maxUnavailable: 1,
        selector: { matchLabels: { ...this.selectorLabels } },
        // A crash-looping pod must not block Fargate's patch evictions.
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    };
    new ApiObject(this, 'DisruptionBudget', disruptionBudget);

    const opsService: IService = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(`${name}-ops`, SyncWave.WORKLOAD),
      spec: {
        clusterIP: 'None',
        selector: { ...this.selectorLabels },
        ports: [{ name: OPS_PORT.name, port: OPS_PORT.number, targetPort: OPS_PORT.name, protocol: 'TCP' }],
      },
    };
    new ApiObject(this, 'OpsService', opsService);
  }
}
