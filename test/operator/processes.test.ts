/**
 * The controller process and the endpoint CLI, run as `node charts/operator/<file>.ts` with a
 * KUBECONFIG that points at an in-process HTTP STAND-IN for the Kubernetes API (api-stand-in.ts),
 * not at a real API server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadControllerConfig } from '../../charts/operator/controller-config.ts';
import type { DicomDestination } from '../../charts/operator/dicom-destination.ts';
import { formatSettings, pacsSettings, waitForEndpoint } from '../../charts/operator/endpoint-cli.ts';
import { ApiStandIn, eventually, type Loose } from './api-stand-in.ts';
import { minimalDestination, REPO_ROOT, sampleDestination, sampleManifest, SETTINGS } from './fixtures.ts';

const CR = ['dicom.destination.io/v1alpha1', 'DicomDestination'] as const;
const HOSTNAME = 'k8s-dicom-stmarys-0123456789-abcdef0123456789.elb.eu-west-1.amazonaws.com';
const scratch = mkdtempSync(path.join(tmpdir(), 'operator-processes-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const CONTROLLER_ENV = {
  WATCH_NAMESPACE: 'dicom',
  ENVIRONMENT_NAME: 'example',
  LISTENER_IMAGE: SETTINGS.listenerImage,
  AWS_REGION: 'eu-west-1',
  LISTENER_ROLE_ARN: SETTINGS.defaultRoleArn ?? '',
  OPS_PORT: '0',
};

/** A kubeconfig file for the stand-in (plain HTTP needs insecure-skip-tls-verify in client-node). */
function kubeconfigFor(api: ApiStandIn, namespace = 'dicom'): string {
  const file = path.join(scratch, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{ name: stand-in, cluster: { server: "${api.url}", insecure-skip-tls-verify: true } }]`,
    'users: [{ name: tester, user: { token: stand-in-token } }]',
    `contexts: [{ name: stand-in, context: { cluster: stand-in, user: tester, namespace: ${namespace} } }]`,
    'current-context: stand-in',
    '',
  ].join('\n'));
  return file;
}

interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: string[], env: Record<string, string>): { child: ChildProcess; output: () => { stdout: string; stderr: string }; done: Promise<Finished> } {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'charts', 'operator', file), ...args], {
    cwd: scratch,
    env: { PATH: process.env['PATH'] ?? '', HOME: scratch, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const done = new Promise<Finished>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, output: () => ({ stdout, stderr }), done };
}

/** What the controller, the Deployment controller and the AWS Load Balancer Controller would have written by now. */
function readyStatus(generation = 1): Loose {
  return {
    observedGeneration: generation,
    endpoint: `${HOSTNAME}:2762`,
    loadBalancer: { hostname: HOSTNAME, ports: [{ name: 'dicom-tls', port: 2762, protocol: 'TCP' }] },
    conditions: [{ type: 'Ready', status: 'True', reason: 'Available', message: 'Accepting associations.', lastTransitionTime: '2026-03-01T10:00:00Z' }],
  };
}

describe('controller-main.ts', () => {
  test('reconciles through KUBECONFIG, answers /healthz and /readyz, and exits 0 on SIGTERM', async () => {
    // GIVEN a destination in the stand-in and the controller process
    const api = await ApiStandIn.start();
    api.create(sampleManifest());
    const controller = run('controller-main.ts', [], { ...CONTROLLER_ENV, KUBECONFIG: kubeconfigFor(api) });
    try {
      // THEN it writes the status
      await eventually(() => api.get(...CR, 'dicom', 'st-marys')?.['status']?.conditions, 15_000, 'a status from the process');
      // AND its ops port reports healthy and ready
      const started = JSON.parse(controller.output().stdout.split('\n').find((line) => line.includes('"starting"')) ?? '{}');
      const base = `http://127.0.0.1:${started.opsPort}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, 5000, 'ready');
      expect(await (await fetch(`${base}/readyz`)).text()).toBe('ok\n');
      // WHEN it gets SIGTERM THEN it stops cleanly
      controller.child.kill('SIGTERM');
      const finished = await controller.done;
      expect(finished.code).toBe(0);
      expect(finished.stdout).toContain('"msg":"stopped"');
    } finally {
      controller.child.kill('SIGKILL');
      await api.close();
    }
  });

  test('exits 1 naming the variable when its configuration is wrong', async () => {
    const { LISTENER_IMAGE: _missing, ...env } = CONTROLLER_ENV;
    const finished = await run('controller-main.ts', [], env).done;
    expect(finished.code).toBe(1);
    expect(finished.stderr).toBe('dicom-destination-controller: invalid configuration: LISTENER_IMAGE must be set\n');
  });
});

describe('loadControllerConfig', () => {
  test('reads what DestinationOperator sets', () => {
    expect(loadControllerConfig(CONTROLLER_ENV)).toEqual({
      settings: { ...SETTINGS },
      namespace: 'dicom',
      opsPort: 0,
      resyncSeconds: 600,
      logLevel: 'info',
    });
  });

  test('* watches every namespace', () => {
    expect(loadControllerConfig({ ...CONTROLLER_ENV, WATCH_NAMESPACE: '*' }).namespace).toBe('');
  });

  test.each([
    ['no WATCH_NAMESPACE', { WATCH_NAMESPACE: undefined }, /^WATCH_NAMESPACE must be set$/],
    ['a :latest listener image', { LISTENER_IMAGE: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/dicom-listener:latest' }, /^LISTENER_IMAGE must not use the mutable tag "latest"/],
    ['a user instead of a role', { LISTENER_ROLE_ARN: 'arn:aws:iam::111122223333:user/x' }, /^LISTENER_ROLE_ARN must be an IAM role ARN/],
    ['a region name', { AWS_REGION: 'Ireland' }, /^AWS_REGION must be an AWS region/],
    ['a resync every second', { RESYNC_SECONDS: '1' }, /^RESYNC_SECONDS must be a whole number from 10 to 86400/],
    ['an unknown log level', { LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be debug, info, warn or error/],
  ])('refuses %s', (_case, patch, message) => {
    expect(() => loadControllerConfig({ ...CONTROLLER_ENV, ...patch })).toThrow(message);
  });
});

describe('the PACS settings', () => {
  test('come from the spec and the status, once the status has an address for the current generation', () => {
    // GIVEN the sample with a Ready status
    const destination = { ...sampleDestination(), status: readyStatus() } as DicomDestination;
    // THEN the settings are what the PACS needs
    expect(pacsSettings(destination)).toEqual({
      name: 'st-marys',
      namespace: 'dicom',
      aeTitles: [{ aeTitle: 'STMARYS' }, { aeTitle: 'STMARYS_CT', callingAeTitles: ['CT_SCANNER_1', 'CT_SCANNER_2'] }],
      callingAeTitles: ['STMARYS_PACS', 'CT_SCANNER_1', 'CT_SCANNER_2'],
      host: HOSTNAME,
      port: 2762,
      tls: { mode: 'passthrough', clientCertificateRequired: true, secretName: 'st-marys-tls' },
      ready: true,
      readyMessage: 'Available: Accepting associations.',
    });
    // AND a status for an older generation does not count (the spec may have changed the TLS mode)
    expect(pacsSettings({ ...destination, metadata: { ...destination.metadata, generation: 2 } })).toBeUndefined();
  });

  test('read as a PACS administrator types them in', () => {
    const text = formatSettings(pacsSettings({ ...minimalDestination(), status: { ...readyStatus(), endpoint: `${HOSTNAME}:11112`, loadBalancer: { hostname: HOSTNAME, ports: [{ name: 'dicom', port: 11112, protocol: 'TCP' }] } } } as DicomDestination)!);
    expect(text).toBe([
      'PACS settings for DicomDestination dicom/plain',
      '  Called AE title:    PLAIN',
      `  Host:               ${HOSTNAME}`,
      '  Port:               11112',
      '  TLS:                no (plain DICOM)',
      '  Calling AE titles:  any',
      '  Ready:              yes (Available: Accepting associations.)',
      '',
    ].join('\n'));
  });

  test('waiting reports progress once per change and gives up on an invalid spec', async () => {
    // GIVEN reads that go from no status, to pending, to Degraded
    const states: Loose[] = [
      {},
      { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'LoadBalancerPending', message: 'waiting' }] },
      { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'LoadBalancerPending', message: 'waiting' }] },
      { observedGeneration: 1, conditions: [{ type: 'Degraded', status: 'True', reason: 'InvalidSpec', message: 'Invalid spec: spec.tls.mode ...' }] },
    ];
    const progress: string[] = [];
    const read = async () => ({ ...minimalDestination(), status: states.shift() } as DicomDestination);
    // WHEN waited for THEN it stops at the Degraded state with its message
    await expect(waitForEndpoint({ read, timeoutMs: 5000, intervalMs: 1, onProgress: (message) => progress.push(message) }))
      .rejects.toThrow('InvalidSpec: Invalid spec: spec.tls.mode ...');
    expect(progress).toEqual(['waiting for the controller to report a status', 'waiting for an address: LoadBalancerPending: waiting']);
  });
});

describe('endpoint-cli.ts', () => {
  test.concurrent('waits until the address exists, then prints the PACS settings', async () => {
    // GIVEN a destination without an address yet
    const api = await ApiStandIn.start();
    try {
      api.create(sampleManifest());
      api.setStatus(...CR, 'dicom', 'st-marys', { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'LoadBalancerPending', message: 'Waiting for the NLB.', lastTransitionTime: '2026-03-01T10:00:00Z' }] });
      // WHEN the CLI runs, and the address arrives a little later
      const cli = run('endpoint-cli.ts', ['st-marys', '--interval', '0.1', '--timeout', '20'], { KUBECONFIG: kubeconfigFor(api) });
      await eventually(() => cli.output().stderr.includes('LoadBalancerPending'), 15_000, 'the CLI waiting');
      api.setStatus(...CR, 'dicom', 'st-marys', readyStatus());
      const finished = await cli.done;
      // THEN it printed the settings and said what it waited for
      expect(finished.code).toBe(0);
      expect(finished.stdout).toContain(`  Host:               ${HOSTNAME}\n  Port:               2762\n`);
      expect(finished.stdout).toContain('  Called AE title:    STMARYS\n');
      expect(finished.stdout).toContain('the PACS must present a client certificate signed by the CA in Secret st-marys-tls');
      expect(finished.stderr).toBe('dicom/st-marys: waiting for an address: LoadBalancerPending: Waiting for the NLB.\n');
    } finally {
      await api.close();
    }
  });

  test.concurrent('--json prints the settings as JSON, and --namespace overrides the context', async () => {
    const api = await ApiStandIn.start();
    try {
      api.create({ ...sampleManifest(), metadata: { name: 'st-marys', namespace: 'site-b' } });
      api.setStatus(...CR, 'site-b', 'st-marys', readyStatus());
      const finished = await run('endpoint-cli.ts', ['st-marys', '--namespace', 'site-b', '--json'], { KUBECONFIG: kubeconfigFor(api) }).done;
      expect(finished.code).toBe(0);
      expect(JSON.parse(finished.stdout)).toMatchObject({ namespace: 'site-b', host: HOSTNAME, port: 2762, tls: { mode: 'passthrough', clientCertificateRequired: true } });
    } finally {
      await api.close();
    }
  });

  test.concurrent('gives up after --timeout with the last status', async () => {
    const api = await ApiStandIn.start();
    try {
      api.create(sampleManifest());
      api.setStatus(...CR, 'dicom', 'st-marys', { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'LoadBalancerPending', message: 'Waiting for the NLB.', lastTransitionTime: '2026-03-01T10:00:00Z' }] });
      const finished = await run('endpoint-cli.ts', ['st-marys', '--interval', '0.1', '--timeout', '0.5'], { KUBECONFIG: kubeconfigFor(api) }).done;
      expect(finished.code).toBe(1);
      expect(finished.stdout).toBe('');
      expect(finished.stderr).toContain('DicomDestination dicom/st-marys: timed out after 0.5 s; last status: LoadBalancerPending: Waiting for the NLB.');
    } finally {
      await api.close();
    }
  });

  test.concurrent('fails at once for a destination that does not exist, or that the controller refuses', async () => {
    const api = await ApiStandIn.start();
    try {
      api.create(minimalDestination('broken', { tls: { mode: 'passthrough' } }) as Loose);
      api.setStatus(...CR, 'dicom', 'broken', { observedGeneration: 1, conditions: [{ type: 'Degraded', status: 'True', reason: 'InvalidSpec', message: 'Invalid spec: spec.tls.secretName is required when tls.mode is "passthrough"', lastTransitionTime: '2026-03-01T10:00:00Z' }] });
      const kubeconfig = kubeconfigFor(api);
      const [missing, broken] = await Promise.all([
        run('endpoint-cli.ts', ['st-nowhere'], { KUBECONFIG: kubeconfig }).done,
        run('endpoint-cli.ts', ['broken'], { KUBECONFIG: kubeconfig }).done,
      ]);
      expect(missing).toMatchObject({ code: 1, stderr: 'no DicomDestination dicom/st-nowhere (kubectl -n dicom get dicomdestinations)\n' });
      expect(broken).toMatchObject({ code: 1, stderr: 'DicomDestination dicom/broken: InvalidSpec: Invalid spec: spec.tls.secretName is required when tls.mode is "passthrough"\n' });
    } finally {
      await api.close();
    }
  });

  test.concurrent('exits 2 with the usage on bad arguments', async () => {
    const finished = await run('endpoint-cli.ts', ['--timeout', 'soon'], {}).done;
    expect(finished.code).toBe(2);
    expect(finished.stderr).toMatch(/^usage: node charts\/operator\/endpoint-cli\.ts <name>/);
  });
});
