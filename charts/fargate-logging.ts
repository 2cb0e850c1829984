import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { createNamespace } from './namespace.ts';
import { SyncWave, syncWave } from './sync-wave.ts';

/** Fargate's log router reads its configuration only from this namespace and ConfigMap name. */
export const FARGATE_LOGGING_NAMESPACE = 'aws-observability';
export const FARGATE_LOGGING_CONFIG_MAP = 'aws-logging';
/** Fargate rejects an `aws-logging` ConfigMap longer than this. */
export const FARGATE_LOGGING_MAX_CHARACTERS = 5300;

export interface FargateLoggingProps {
  /** Region of the CloudWatch Logs group. */
  readonly region: string;
  /**
   * CloudWatch Logs group every Fargate pod's stdout and stderr go to. It must exist: infra/ creates
   * it with its retention and key, and the pod execution role may only write streams and events to it.
   */
  readonly logGroupName: string;
}

/**
 * Configures the Fluent Bit log router built into every Fargate node to send container logs to
 * CloudWatch Logs. The pod execution role needs logs:CreateLogStream, DescribeLogStreams and
 * PutLogEvents on the group.
 */
export class FargateLogging extends Construct {
  constructor(scope: Construct, id: string, props: FargateLoggingProps) {
    super(scope, id);
    const owner = `FargateLogging ${this.node.path}`;
    if (!/^[\w#/.-]{1,512}$/.test(props.logGroupName)) {
      throw new Error(`${owner}: logGroupName "${props.logGroupName}" is not a CloudWatch Logs group name`);
    }

    createNamespace(this, 'Namespace', FARGATE_LOGGING_NAMESPACE, { 'aws-observability': 'enabled' });

    const configMap: IConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: FARGATE_LOGGING_CONFIG_MAP,
        namespace: FARGATE_LOGGING_NAMESPACE,
        annotations: { ...syncWave(SyncWave.FOUNDATION) },
      },
      data: {
        // Fluent Bit's own logs stay off CloudWatch; they would need a second group and permissions.
        flb_log_cw: 'false',
        'parsers.conf': section('PARSER', [
          ['Name', 'crio'],
          ['Format', 'Regex'],
          ['Regex', '^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>P|F) (?<log>.*)$'],
          ['Time_Key', 'time'],
          ['Time_Format', '%Y-%m-%dT%H:%M:%S.%L%z'],
        ]),
        'filters.conf': [
          section('FILTER', [['Name', 'parser'], ['Match', '*'], ['Key_name', 'log'], ['Parser', 'crio']]),
          // Merge_Log lifts the listener's JSON log lines into fields; labels and annotations stay out to keep records small.
          section('FILTER', [
            ['Name', 'kubernetes'],
            ['Match', 'kube.*'],
            ['Merge_Log', 'On'],
            ['Keep_Log', 'Off'],
            ['Labels', 'Off'],
            ['Annotations', 'Off'],
            ['Buffer_Size', '0'],
            ['Kube_Meta_Cache_TTL', '300s'],
          ]),
        ].join(''),
        'output.conf': section('OUTPUT', [
          ['Name', 'cloudwatch_logs'],
          ['Match', 'kube.*'],
          ['region', props.region],
          ['log_group_name', props.logGroupName],
          ['log_stream_prefix', 'fargate-'],
          // The group is infra's, with retention and a KMS key; creating one here would have neither.
          ['auto_create_group', 'false'],
        ]),
      },
    };
    new ApiObject(this, 'Config', configMap);
  }
}

function section(kind: string, entries: readonly (readonly [string, string])[]): string {
  return `[${kind}]\n${entries.map(([key, value]) => `    ${key} ${value}\n`).join('')}`;
}
