import { IAM_ROLE_ARN } from '../aws-arns.ts';
import { ecrImageProblem } from '../image-reference.ts';
import type { LogLevel } from './controller.ts';
import type { ControllerSettings } from './reconcile.ts';

/** The controller's own configuration, from its environment (set by `DestinationOperator` in k8s/). */
export interface ControllerConfig {
  readonly settings: ControllerSettings;
  /** Namespace whose DicomDestinations are managed; '' for all (WATCH_NAMESPACE=*). */
  readonly namespace: string;
  readonly opsPort: number;
  readonly resyncSeconds: number;
  readonly logLevel: LogLevel;
}

export const CONTROLLER_ENV = [
  { name: 'WATCH_NAMESPACE', description: 'Namespace whose DicomDestinations are managed, or `*` for every namespace (needs a ClusterRole instead of the Role).' },
  { name: 'ENVIRONMENT_NAME', description: 'Environment name: `app.kubernetes.io/instance` and `deployment.environment.name` of every fleet.' },
  { name: 'LISTENER_IMAGE', description: 'Listener image every fleet runs (ECR, pinned by tag or digest).' },
  { name: 'AWS_REGION', description: 'Region of the buckets and telemetry, passed to the fleets.' },
  { name: 'LISTENER_ROLE_ARN', description: 'IRSA role of fleets whose DicomDestination sets no spec.storage.roleArn (optional).' },
  { name: 'LISTENER_OTLP_ENDPOINT', description: 'OTLP/HTTP endpoint the fleets send traces and metrics to (default: the ADOT collector in `observability`).' },
  { name: 'OPS_PORT', description: 'Port of /healthz and /readyz (default 8080; 0 picks a free port).' },
  { name: 'RESYNC_SECONDS', description: 'Every destination is reconciled at least this often (default 600).' },
  { name: 'LOG_LEVEL', description: '`debug`, `info`, `warn` or `error` (default info).' },
] as const;

const DEFAULT_OTLP_ENDPOINT = 'http://adot-collector.observability.svc.cluster.local:4318';

function fail(name: string, reason: string): never {
  throw new Error(`${name} ${reason}`);
}

function required(env: Record<string, string | undefined>, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') fail(name, 'must be set');
  return value;
}

function whole(env: Record<string, string | undefined>, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) fail(name, `must be a whole number from ${min} to ${max}, got "${text}"`);
  return value;
}

/** Reads and checks the controller's environment; throws naming the variable and the reason. */
export function loadControllerConfig(env: Record<string, string | undefined>): ControllerConfig {
  const watch = required(env, 'WATCH_NAMESPACE');
  if (watch !== '*' && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(watch)) fail('WATCH_NAMESPACE', `must be a namespace name or *, got "${watch}"`);
  const environmentName = required(env, 'ENVIRONMENT_NAME');
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(environmentName)) fail('ENVIRONMENT_NAME', `must be a DNS label, got "${environmentName}"`);
  const listenerImage = required(env, 'LISTENER_IMAGE');
  const imageProblem = ecrImageProblem(listenerImage);
  if (imageProblem !== undefined) fail('LISTENER_IMAGE', imageProblem);
  const region = required(env, 'AWS_REGION');
  if (!/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/.test(region)) fail('AWS_REGION', `must be an AWS region such as eu-west-1, got "${region}"`);
  const defaultRoleArn = env['LISTENER_ROLE_ARN'] === '' ? undefined : env['LISTENER_ROLE_ARN'];
  if (defaultRoleArn !== undefined && !IAM_ROLE_ARN.test(defaultRoleArn)) fail('LISTENER_ROLE_ARN', `must be an IAM role ARN, got "${defaultRoleArn}"`);
  const otlpEndpoint = env['LISTENER_OTLP_ENDPOINT'] || DEFAULT_OTLP_ENDPOINT;
  if (!/^https?:\/\/[^\s/]+(\/\S*)?$/.test(otlpEndpoint)) fail('LISTENER_OTLP_ENDPOINT', `must be an http(s) URL, got "${otlpEndpoint}"`);
  const logLevel = env['LOG_LEVEL'] || 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) fail('LOG_LEVEL', `must be debug, info, warn or error, got "${logLevel}"`);
  return {
    settings: { environmentName, listenerImage, region, otlpEndpoint, ...(defaultRoleArn === undefined ? {} : { defaultRoleArn }) },
    namespace: watch === '*' ? '' : watch,
    opsPort: whole(env, 'OPS_PORT', 8080, 0, 65535),
    resyncSeconds: whole(env, 'RESYNC_SECONDS', 600, 10, 86_400),
    logLevel: logLevel as LogLevel,
  };
}
