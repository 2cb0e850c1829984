import { createRequire } from 'node:module';
import type { IJSONSchemaProps } from 'kubernetes-models/apiextensions.k8s.io/v1/JSONSchemaProps';
import { fargateResources } from '../../charts/fargate-size.ts';
import { DICOM_DESTINATION_SCHEMA } from '../../charts/operator/crd.ts';
import type { KubeObject } from '../../charts/operator/dicom-destination.ts';
export { unknownFields } from '../charts/unknown-fields.ts';
import { KUBE_MODELS } from '../charts/kube-models.ts';


/** Validates an object against its Kubernetes 1.36 schema; throws with the path of the first error. */
export async function schemaValidate(object: KubeObject | Record<string, any>): Promise<void> {
  const model = KUBE_MODELS[`${object['apiVersion']}/${object['kind']}`];
  if (model === undefined) throw new Error(`no schema model registered for ${object['apiVersion']} ${object['kind']}`);
  new (await model())(object).validate();
}

/** Fargate's rules for a pod spec, as test/charts checks them over k8s/; returns what is broken. */
export function fargateViolations(podSpec: Record<string, any>): string[] {
  const problems: string[] = [];
  if (podSpec['hostNetwork'] || podSpec['hostPID'] || podSpec['hostIPC']) problems.push('uses a host namespace');
  if ((podSpec['volumes'] ?? []).some((volume: Record<string, unknown>) => volume['hostPath'] !== undefined)) problems.push('mounts a host path');
  for (const container of [...(podSpec['initContainers'] ?? []), ...podSpec['containers']]) {
    const { requests, limits } = container.resources ?? {};
    if (JSON.stringify(requests) !== JSON.stringify(limits)) problems.push(`${container.name}: requests differ from limits`);
    const vcpu = Number(/^(\d+)m$/.exec(requests?.cpu ?? '')?.[1]) / 1000;
    const gib = (Number(/^(\d+)Mi$/.exec(requests?.memory ?? '')?.[1]) + 256) / 1024;
    try {
      fargateResources(container.name, vcpu, gib);
    } catch (error) {
      problems.push((error as Error).message);
    }
    const security = container.securityContext ?? {};
    if (security.privileged !== false || security.allowPrivilegeEscalation !== false) problems.push(`${container.name}: may escalate privileges`);
    if (security.readOnlyRootFilesystem !== true || security.runAsNonRoot !== true) problems.push(`${container.name}: root or writable root filesystem`);
    if (security.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${container.name}: no RuntimeDefault seccomp profile`);
    if ((container.ports ?? []).some((port: Record<string, unknown>) => port['hostPort'] !== undefined)) problems.push(`${container.name}: uses a host port`);
  }
  return problems;
}

// ajv comes with kubernetes-models (its validators are precompiled ajv); it is not a direct dependency.
const require = createRequire(import.meta.url);
const Ajv = require('ajv') as new (options: Record<string, unknown>) => AjvInstance;
const addFormats = require('ajv-formats') as (ajv: AjvInstance) => void;
interface AjvInstance {
  addFormat(name: string, format: boolean): void;
  compile(schema: unknown): AjvValidate;
}
type AjvValidate = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

/** The CRD schema as plain JSON Schema: `x-kubernetes-*` extensions dropped (CEL cannot be evaluated here). */
function toJsonSchema(schema: IJSONSchemaProps, closed: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, IJSONSchemaProps>).map(([name, child]) => [name, toJsonSchema(child, closed)]));
    } else if (key === 'items') {
      out[key] = toJsonSchema(value as IJSONSchemaProps, closed);
    } else {
      out[key] = value;
    }
  }
  // Closed: what the API server would prune (an unknown field) fails instead.
  if (closed && schema.type === 'object' && schema.properties !== undefined && schema.properties['metadata'] === undefined) out['additionalProperties'] = false;
  return out;
}

export interface CrdValidation {
  readonly valid: boolean;
  readonly errors: string[];
}

function validator(closed: boolean): (object: unknown) => CrdValidation {
  // useDefaults: the API server fills defaults before validating, and so does this.
  const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true });
  addFormats(ajv);
  ajv.addFormat('int32', true);
  ajv.addFormat('int64', true);
  const validate = ajv.compile(toJsonSchema(DICOM_DESTINATION_SCHEMA, closed));
  return (object) => {
    const valid = validate(object);
    return { valid, errors: (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ''}`) };
  };
}

/** Validates (and defaults, in place) a DicomDestination against the CRD's openAPIV3Schema. */
export const validateAgainstCrd = validator(false);
/** Like validateAgainstCrd, but a field outside the schema is an error rather than pruned. */
export const validateAgainstCrdClosed = validator(true);
