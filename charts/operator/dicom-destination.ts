/**
 * The DicomDestination custom resource: its API coordinates and the TypeScript shape of its spec
 * and status. The OpenAPI schema the API server enforces is in `crd.ts`; the controller validates
 * the same rules again (`validate.ts`), because a spec can reach it without the API server's checks
 * (an older CRD, or an object stored before a rule was added).
 */

export const GROUP = 'dicom.destination.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'DicomDestination';
export const PLURAL = 'dicomdestinations';
export const SINGULAR = 'dicomdestination';
export const SHORT_NAMES = ['dicomdest'];

/** The controller's field manager for server-side apply; fixed so ownership of fields never moves between runs. */
export const FIELD_MANAGER = 'dicom-destination-controller';
/** `app.kubernetes.io/managed-by` of every object the controller creates; its informers select by it. */
export const MANAGED_BY = FIELD_MANAGER;

export type TlsMode = 'none' | 'passthrough' | 'nlb';
export type LoadBalancerScheme = 'internal' | 'internet-facing';

/** One local (called) AE title and how it is routed. */
export interface AeTitleRoute {
  readonly aeTitle: string;
  /** Calling AE titles this AE title accepts; replaces `spec.callingAeTitles` for it. */
  readonly callingAeTitles?: readonly string[];
  /** Key prefix in the destination's bucket for this AE title; replaces the prefix of `spec.storage.url`. */
  readonly prefix?: string;
  /** Object key template for this AE title; replaces `spec.storage.keyTemplate`. */
  readonly keyTemplate?: string;
}

export interface DicomDestinationSpec {
  /** Local AE titles the PACS may call, 1 to 16, each with optional routing. */
  readonly aeTitles: readonly AeTitleRoute[];
  /** Calling AE titles allowed to associate with every AE title; absent or empty allows any. */
  readonly callingAeTitles?: readonly string[];
  /** Open associations one calling AE may hold at once. */
  readonly maxAssociationsPerCallingAe?: number;
  readonly storage: {
    /** `s3://bucket` or `s3://bucket/prefix`. */
    readonly url: string;
    /** Object key template (placeholders as in the listener's STORAGE_KEY_TEMPLATE). */
    readonly keyTemplate?: string;
    /** SSE-KMS key; absent uses the bucket's default encryption. */
    readonly kmsKeyArn?: string;
    /** IAM role the listener pods assume through IRSA; absent uses the controller's default role. */
    readonly roleArn?: string;
  };
  readonly tls: {
    readonly mode: TlsMode;
    /** passthrough: a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) in the destination's namespace. */
    readonly secretName?: string;
    /** passthrough: whether callers must present a certificate signed by ca.crt (default true). */
    readonly requireClientCertificate?: boolean;
    /** nlb: the ACM certificate the NLB terminates TLS with. */
    readonly certificateArn?: string;
  };
  readonly loadBalancer: {
    /** Default `internal`. */
    readonly scheme?: LoadBalancerScheme;
    /** Client CIDRs allowed through the NLB. */
    readonly sourceRanges: readonly string[];
  };
  readonly scaling?: {
    /** Default 2. */
    readonly minReplicas?: number;
    /** Default 10. */
    readonly maxReplicas?: number;
    /** Default 70. */
    readonly targetCpuUtilizationPercent?: number;
  };
  readonly resources?: {
    /** Fargate vCPU per pod; default 1. */
    readonly vcpu?: number;
    /** Fargate memory per pod in GiB; default 2. */
    readonly memoryGiB?: number;
  };
}

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A metav1.Condition. */
export interface Condition {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

export interface EndpointPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
}

export interface DicomDestinationStatus {
  readonly observedGeneration?: number;
  /** `host:port` the PACS sends to, once the NLB has an address. */
  readonly endpoint?: string;
  readonly loadBalancer?: {
    readonly hostname?: string;
    readonly ip?: string;
    readonly ports?: readonly EndpointPort[];
  };
  readonly conditions?: readonly Condition[];
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly deletionTimestamp?: string | Date;
  readonly creationTimestamp?: string | Date;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
}

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

/** A DicomDestination as read from the API: the spec is untrusted until validated. */
export interface DicomDestination {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly spec?: unknown;
  readonly status?: DicomDestinationStatus;
}

/** Any Kubernetes object, loosely typed: what the controller renders, applies and observes. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

/** `namespace/name`, the work-queue key. */
export function objectKey(metadata: { readonly name?: string; readonly namespace?: string }): string {
  return `${metadata.namespace ?? ''}/${metadata.name ?? ''}`;
}
