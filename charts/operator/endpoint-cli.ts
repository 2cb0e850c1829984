/**
 * Prints the settings a PACS needs to send to a DicomDestination, waiting until its load balancer
 * has an address.
 *
 *   node charts/operator/endpoint-cli.ts <name> [--namespace <ns>] [--timeout <seconds>] [--interval <seconds>] [--json]
 *
 * Uses KUBECONFIG or ~/.kube/config (in a pod: its service account). The namespace defaults to the
 * current context's, else `dicom`. Exit status: 0 printed, 1 not found / invalid / timed out, 2 usage.
 */
import { parseArgs } from 'node:util';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { httpStatus } from './api-errors.ts';
import { type AeTitleRoute, type Condition, type DicomDestination, type DicomDestinationSpec, GROUP, PLURAL, VERSION } from './dicom-destination.ts';

export interface PacsSettings {
  readonly name: string;
  readonly namespace: string;
  readonly aeTitles: readonly { readonly aeTitle: string; readonly callingAeTitles?: readonly string[] }[];
  /** Calling AE titles accepted by every AE title without its own list; empty: any. */
  readonly callingAeTitles: readonly string[];
  readonly host: string;
  readonly port: number;
  readonly tls: {
    readonly mode: 'none' | 'passthrough' | 'nlb';
    readonly clientCertificateRequired: boolean;
    /** passthrough: the Secret whose ca.crt must sign the PACS's client certificate. */
    readonly secretName?: string;
  };
  readonly ready: boolean;
  readonly readyMessage: string;
}

const USAGE = 'usage: node charts/operator/endpoint-cli.ts <name> [--namespace <ns>] [--timeout <seconds>] [--interval <seconds>] [--json]';

function condition(destination: DicomDestination, type: Condition['type']): Condition | undefined {
  return destination.status?.conditions?.find((c) => c.type === type);
}

/** The PACS settings, once the status has an endpoint for the current generation; undefined before. */
export function pacsSettings(destination: DicomDestination): PacsSettings | undefined {
  const status = destination.status;
  const host = status?.loadBalancer?.hostname ?? status?.loadBalancer?.ip;
  const port = status?.loadBalancer?.ports?.[0]?.port;
  if (host === undefined || port === undefined || status?.endpoint === undefined) return undefined;
  // The spec may have changed (another TLS mode, other AE titles) since the status was written.
  if (status.observedGeneration !== destination.metadata.generation) return undefined;
  const spec = (destination.spec ?? {}) as Partial<DicomDestinationSpec>;
  const tls = spec.tls ?? { mode: 'none' as const };
  const ready = condition(destination, 'Ready');
  return {
    name: destination.metadata.name,
    namespace: destination.metadata.namespace ?? '',
    aeTitles: (spec.aeTitles ?? []).map((route: AeTitleRoute) => ({
      aeTitle: route.aeTitle,
      ...(route.callingAeTitles === undefined ? {} : { callingAeTitles: route.callingAeTitles }),
    })),
    callingAeTitles: spec.callingAeTitles ?? [],
    host,
    port,
    tls: {
      mode: tls.mode,
      clientCertificateRequired: tls.mode === 'passthrough' && tls.requireClientCertificate !== false,
      ...(tls.mode === 'passthrough' && tls.secretName !== undefined ? { secretName: tls.secretName } : {}),
    },
    ready: ready?.status === 'True',
    readyMessage: ready === undefined ? 'no Ready condition yet' : `${ready.reason}: ${ready.message}`,
  };
}

const TLS_TEXT: Record<PacsSettings['tls']['mode'], string> = {
  none: 'no (plain DICOM)',
  passthrough: 'yes; the listener terminates TLS',
  nlb: 'yes; the load balancer terminates TLS (server certificate only)',
};

/** The settings as a PACS administrator types them in. */
export function formatSettings(settings: PacsSettings): string {
  const list = (titles: readonly string[]) => (titles.length === 0 ? 'any' : titles.join(', '));
  const tls = settings.tls.mode === 'passthrough' && settings.tls.clientCertificateRequired
    ? `${TLS_TEXT.passthrough}; the PACS must present a client certificate signed by the CA in Secret ${settings.tls.secretName ?? '?'} (ca.crt)`
    : TLS_TEXT[settings.tls.mode];
  const lines = [
    `PACS settings for DicomDestination ${settings.namespace}/${settings.name}`,
    ...settings.aeTitles.map((route) => `  Called AE title:    ${route.aeTitle}${route.callingAeTitles === undefined ? '' : ` (calling AE titles: ${list(route.callingAeTitles)})`}`),
    `  Host:               ${settings.host}`,
    `  Port:               ${settings.port}`,
    `  TLS:                ${tls}`,
    `  Calling AE titles:  ${list(settings.callingAeTitles)}`,
    `  Ready:              ${settings.ready ? 'yes' : 'not yet'} (${settings.readyMessage})`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Why waiting longer cannot help, if it cannot: the controller refuses the spec as it is. */
export function hopeless(destination: DicomDestination): string | undefined {
  const degraded = condition(destination, 'Degraded');
  const current = destination.status?.observedGeneration === destination.metadata.generation;
  if (current && degraded?.status === 'True' && (degraded.reason === 'InvalidSpec' || degraded.reason === 'ChildConflict')) {
    return `${degraded.reason}: ${degraded.message}`;
  }
  return undefined;
}

export interface WaitOptions {
  readonly read: () => Promise<DicomDestination | undefined>;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly onProgress?: (message: string) => void;
}

/** Polls until the destination has an address; throws with the reason when it cannot or does not in time. */
export async function waitForEndpoint(options: WaitOptions): Promise<PacsSettings> {
  const deadline = Date.now() + options.timeoutMs;
  let last = '';
  for (;;) {
    const destination = await options.read();
    if (destination === undefined) throw new Error('not found');
    const settings = pacsSettings(destination);
    if (settings !== undefined) return settings;
    const reason = hopeless(destination);
    if (reason !== undefined) throw new Error(reason);
    const ready = condition(destination, 'Ready');
    const progress = ready === undefined ? 'waiting for the controller to report a status' : `waiting for an address: ${ready.reason}: ${ready.message}`;
    if (progress !== last) options.onProgress?.(progress);
    last = progress;
    if (Date.now() + options.intervalMs > deadline) throw new Error(`timed out after ${options.timeoutMs / 1000} s; last status: ${ready === undefined ? 'none' : `${ready.reason}: ${ready.message}`}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        timeout: { type: 'string', default: '600' },
        interval: { type: 'string', default: '2' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const timeout = Number(values.timeout);
  const interval = Number(values.interval);
  if (positionals.length !== 1 || !(timeout >= 0) || !(interval > 0)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const name = positionals[0] as string;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const namespace = values.namespace ?? kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? 'dicom';
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const read = async (): Promise<DicomDestination | undefined> => {
    try {
      return await api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name }) as DicomDestination;
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw error;
    }
  };
  try {
    const settings = await waitForEndpoint({
      read,
      timeoutMs: timeout * 1000,
      intervalMs: interval * 1000,
      onProgress: (message) => process.stderr.write(`${namespace}/${name}: ${message}\n`),
    });
    process.stdout.write(values.json ? `${JSON.stringify(settings, null, 2)}\n` : formatSettings(settings));
    return 0;
  } catch (error) {
    const message = (error as Error).message;
    process.stderr.write(message === 'not found'
      ? `no DicomDestination ${namespace}/${name} (kubectl -n ${namespace} get dicomdestinations)\n`
      : `DicomDestination ${namespace}/${name}: ${message}\n`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
