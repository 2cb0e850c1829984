/**
 * The controller's I/O, against an in-process HTTP STAND-IN for the Kubernetes API (api-stand-in.ts),
 * not a real API server: none can run on these machines. The stand-in serves the paths the
 * controller uses (discovery, list, watch, GET, server-side apply PATCH, status PATCH) and can
 * answer 409 Conflict, 410 Gone and 500 on demand. It has no garbage collector, admission, CEL or
 * real field ownership; docs/operator.md describes how to run the controller against a real cluster.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, test } from 'vitest';
import { DestinationController, type ControllerOptions, type LogLevel } from '../../charts/operator/controller.ts';
import type { DicomDestination, KubeObject } from '../../charts/operator/dicom-destination.ts';
import { reconcile } from '../../charts/operator/reconcile.ts';
import { ApiStandIn, eventually, type Loose, type RecordedRequest } from './api-stand-in.ts';
import { minimalDestination, sampleManifest, SETTINGS } from './fixtures.ts';

const CR = ['dicom.destination.io/v1alpha1', 'DicomDestination'] as const;
const CR_PATH = '/apis/dicom.destination.io/v1alpha1/namespaces/dicom/dicomdestinations';
const HOSTNAME = 'k8s-dicom-stmarys-0123456789-abcdef0123456789.elb.eu-west-1.amazonaws.com';

interface Running {
  readonly api: ApiStandIn;
  readonly controller: DestinationController;
  readonly logs: { level: LogLevel; message: string; fields: Record<string, unknown> }[];
}

const running: Running[] = [];
afterEach(async () => {
  for (const { api, controller } of running.splice(0)) {
    await controller.stop();
    await api.close();
  }
});

function kubeConfigFor(api: ApiStandIn): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'stand-in', server: api.url, skipTLSVerify: true }],
    users: [{ name: 'controller', token: 'stand-in-token' }],
    contexts: [{ name: 'stand-in', cluster: 'stand-in', user: 'controller', namespace: 'dicom' }],
    currentContext: 'stand-in',
  });
  return kc;
}

/** A controller against a fresh stand-in, with delays shortened so retries happen within a test. */
async function startController(seed: (api: ApiStandIn) => void = () => {}, options: Partial<ControllerOptions> = {}): Promise<Running> {
  const api = await ApiStandIn.start();
  seed(api);
  const logs: Running['logs'] = [];
  const controller = new DestinationController({
    kubeConfig: kubeConfigFor(api),
    settings: SETTINGS,
    namespace: 'dicom',
    informerBackoff: { initialMs: 100, maxMs: 800 },
    informerStableMs: 10_000,
    retry: { baseMs: 100, maxMs: 1000 },
    log: (level, message, fields = {}) => logs.push({ level, message, fields }),
    ...options,
  });
  const run = { api, controller, logs };
  running.push(run);
  await controller.start();
  return run;
}

function destinationIn(api: ApiStandIn, name = 'st-marys'): Loose {
  const found = api.get(...CR, 'dicom', name);
  if (found === undefined) throw new Error(`no DicomDestination ${name}`);
  return found;
}

function condition(object: Loose | undefined, type: string): Loose | undefined {
  return object?.['status']?.conditions?.find((c: Loose) => c['type'] === type);
}

function applies(api: ApiStandIn, name?: string): RecordedRequest[] {
  return api.requests.filter((request) => request.method === 'PATCH' && request.contentType === 'application/apply-patch+yaml'
    && (name === undefined || request.path.split('/').at(-1)?.startsWith(name)));
}

function statusWrites(api: ApiStandIn): RecordedRequest[] {
  return api.requests.filter((request) => request.method === 'PATCH' && request.path.endsWith('/status'));
}

/** What the Deployment controller and the AWS Load Balancer Controller would do once the fleet is up. */
function settle(api: ApiStandIn, name = 'st-marys', ingress: Loose = { hostname: HOSTNAME }): void {
  const deployment = api.get('apps/v1', 'Deployment', 'dicom', name) as Loose;
  api.setStatus('apps/v1', 'Deployment', 'dicom', name, {
    observedGeneration: deployment['metadata'].generation, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2,
    conditions: [{ type: 'Available', status: 'True' }],
  });
  api.setStatus('v1', 'Service', 'dicom', name, { loadBalancer: { ingress: [ingress] } });
}

describe('the controller against the API stand-in', () => {
  test('lists and watches DicomDestinations and the Deployments and Services it manages', async () => {
    // GIVEN a running controller
    const { api, controller } = await startController();
    // THEN it listed each kind, then watched from the listed resourceVersion, children by its label
    await eventually(() => api.openWatches === 3, 5000, 'three watches');
    const gets = api.requests.filter((request) => request.method === 'GET' && /\/(dicomdestinations|deployments|services)$/.test(request.path));
    expect(gets.map((request) => [request.path, request.watch])).toEqual(expect.arrayContaining([
      [CR_PATH, false], [CR_PATH, true],
      ['/apis/apps/v1/namespaces/dicom/deployments', false], ['/apis/apps/v1/namespaces/dicom/deployments', true],
      ['/api/v1/namespaces/dicom/services', false], ['/api/v1/namespaces/dicom/services', true],
    ]));
    expect(gets.filter((request) => request.watch).every((request) => /^\d+$/.test(request.query['resourceVersion'] ?? ''))).toBe(true);
    expect(gets.filter((request) => !request.path.endsWith('dicomdestinations')).every((request) => request.query['labelSelector'] === 'app.kubernetes.io/managed-by=dicom-destination-controller')).toBe(true);
    expect(controller.synced).toBe(true);
  });

  test('server-side applies every child under its fixed field manager, exactly as reconcile renders it', async () => {
    // GIVEN a DicomDestination that exists before the controller starts
    const { api, controller } = await startController((stand) => stand.create(sampleManifest()));
    // WHEN it has reconciled
    await eventually(() => condition(api.get(...CR, 'dicom', 'st-marys'), 'Progressing'), 5000, 'a status');
    await controller.idle();
    // THEN each child was PATCHed as apply-patch+yaml, fieldManager=dicom-destination-controller, force=true
    const stored = destinationIn(api) as DicomDestination;
    const desired = reconcile({ destination: stored, observed: [], settings: SETTINGS, now: new Date() }).desired;
    const first = applies(api).slice(0, desired.length);
    expect(first.map((request) => request.path)).toEqual([
      '/api/v1/namespaces/dicom/serviceaccounts/st-marys',
      '/api/v1/namespaces/dicom/configmaps/st-marys-policy',
      '/apis/apps/v1/namespaces/dicom/deployments/st-marys',
      '/apis/autoscaling/v2/namespaces/dicom/horizontalpodautoscalers/st-marys',
      '/apis/policy/v1/namespaces/dicom/poddisruptionbudgets/st-marys',
      '/api/v1/namespaces/dicom/services/st-marys-ops',
      '/api/v1/namespaces/dicom/services/st-marys',
    ]);
    for (const request of first) expect(request.query).toEqual({ fieldManager: 'dicom-destination-controller', force: 'true' });
    // AND the bodies on the wire are the rendered objects, owner references included (nothing lost in serialization)
    expect(first.map((request) => request.body)).toEqual(desired);
    expect(api.get('apps/v1', 'Deployment', 'dicom', 'st-marys')?.['metadata'].ownerReferences).toEqual([
      expect.objectContaining({ kind: 'DicomDestination', name: 'st-marys', uid: stored.metadata.uid, controller: true, blockOwnerDeletion: true }),
    ]);
  });

  test('writes the status through the status subresource, for the generation it saw', async () => {
    const { api } = await startController((stand) => stand.create(sampleManifest()));
    const status = await eventually(() => destinationIn(api)['status'], 5000, 'a status');
    // THEN it came as a merge patch on /status, with the resourceVersion it read as precondition
    const write = statusWrites(api)[0] as RecordedRequest;
    expect(write.path).toBe(`${CR_PATH}/st-marys/status`);
    expect(write.contentType).toBe('application/merge-patch+json');
    expect(write.body?.['metadata']).toEqual({ resourceVersion: expect.stringMatching(/^\d+$/) });
    expect(status).toMatchObject({ observedGeneration: 1 });
    expect(condition(destinationIn(api), 'Ready')).toMatchObject({ status: 'False', reason: 'PodsUnavailable' });
  });

  test('becomes Ready with the NLB hostname and port once the Service has them', async () => {
    // GIVEN a reconciled destination
    const { api } = await startController((stand) => stand.create(sampleManifest()));
    await eventually(() => api.get('v1', 'Service', 'dicom', 'st-marys'), 5000, 'the Service');
    // WHEN its pods become available and the AWS Load Balancer Controller fills in the Service's ingress
    settle(api);
    // THEN the Deployment and Service watch events bring the endpoint into the status, without any change to the destination
    const ready = await eventually(() => condition(destinationIn(api), 'Ready')?.['status'] === 'True' && destinationIn(api), 5000, 'Ready');
    expect(ready['status']).toMatchObject({
      endpoint: `${HOSTNAME}:2762`,
      loadBalancer: { hostname: HOSTNAME, ports: [{ name: 'dicom-tls', port: 2762, protocol: 'TCP' }] },
    });
    expect(condition(ready, 'Progressing')).toMatchObject({ status: 'False', reason: 'Complete' });
    expect(ready['metadata'].generation).toBe(1);
  });

  test('picks up a destination created while it runs, from the watch stream', async () => {
    const { api } = await startController();
    await eventually(() => api.openWatches === 3, 5000, 'watches');
    // WHEN a destination is created THEN its children appear
    api.create(minimalDestination('late') as Loose);
    await eventually(() => api.get('v1', 'Service', 'dicom', 'late'), 5000, 'the late destination\'s Service');
    expect(api.get('v1', 'ConfigMap', 'dicom', 'late-policy')?.['metadata'].ownerReferences).toEqual([expect.objectContaining({ name: 'late', controller: true })]);
  });

  test('a spec change re-renders the children and reports the new generation', async () => {
    const { api } = await startController((stand) => stand.create(sampleManifest()));
    await eventually(() => destinationIn(api)['status'], 5000, 'a status');
    // WHEN the spec gets another AE title (generation 2)
    const spec = { ...sampleManifest()['spec'], aeTitles: [{ aeTitle: 'STMARYS' }, { aeTitle: 'STMARYS_MR' }] };
    api.updateSpec(...CR, 'dicom', 'st-marys', spec);
    // THEN the policy and the Deployment follow, and the status says generation 2
    await eventually(() => destinationIn(api)['status']?.observedGeneration === 2, 5000, 'observedGeneration 2');
    expect(api.get('v1', 'ConfigMap', 'dicom', 'st-marys-policy')?.['data']['policy.yaml']).toContain('STMARYS_MR');
    expect(api.get('apps/v1', 'Deployment', 'dicom', 'st-marys')?.['metadata'].generation).toBe(2);
    expect(condition(destinationIn(api), 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
  });

  test('settles: its own status writes do not make it reconcile again', async () => {
    const { api, controller } = await startController((stand) => stand.create(sampleManifest()));
    await eventually(() => destinationIn(api)['status'], 5000, 'a status');
    settle(api);
    await eventually(() => condition(destinationIn(api), 'Ready')?.['status'] === 'True', 5000, 'Ready');
    await controller.idle();
    // WHEN nothing changes for a while
    const before = api.requests.filter((request) => !request.watch).length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    // THEN it sends nothing
    expect(api.requests.filter((request) => !request.watch).length).toBe(before);
  });

  test('an invalid spec is Degraded with its message, nothing is applied, and other destinations still reconcile', async () => {
    // GIVEN a broken destination and a good one
    const { api, controller } = await startController((stand) => {
      stand.create(minimalDestination('broken', { tls: { mode: 'passthrough' } }) as Loose);
      stand.create(minimalDestination('good') as Loose);
    });
    // THEN the broken one says why, and the good one gets its fleet
    const degraded = await eventually(() => condition(destinationIn(api, 'broken'), 'Degraded'), 5000, 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'InvalidSpec', message: 'Invalid spec: spec.tls.secretName is required when tls.mode is "passthrough"' });
    await eventually(() => api.get('v1', 'Service', 'dicom', 'good'), 5000, 'the good Service');
    await controller.idle();
    expect(applies(api, 'broken')).toEqual([]);
    // AND fixing the spec brings the fleet
    api.updateSpec(...CR, 'dicom', 'broken', { ...destinationIn(api, 'broken')['spec'], tls: { mode: 'passthrough', secretName: 'broken-tls' } });
    await eventually(() => api.get('apps/v1', 'Deployment', 'dicom', 'broken'), 5000, 'the fixed Deployment');
    const healed = await eventually(() => condition(destinationIn(api, 'broken'), 'Degraded')?.['status'] === 'False' && destinationIn(api, 'broken'), 5000, 'Degraded=False');
    expect(condition(healed, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(healed['status'].observedGeneration).toBe(2);
  });

  test('never takes over an object it does not own under a child\'s name', async () => {
    // GIVEN a Service named like the destination, created by someone else
    const { api, controller } = await startController((stand) => {
      stand.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'st-marys', namespace: 'dicom' }, spec: { type: 'ClusterIP', ports: [{ port: 80 }] } });
      stand.create(sampleManifest());
    });
    // THEN the destination is Degraded and nothing is applied
    await eventually(() => condition(destinationIn(api), 'Degraded')?.['reason'] === 'ChildConflict', 5000, 'ChildConflict');
    await controller.idle();
    expect(applies(api)).toEqual([]);
    expect(api.get('v1', 'Service', 'dicom', 'st-marys')?.['spec']).toEqual({ type: 'ClusterIP', ports: [{ port: 80 }] });
  });
});

describe('retry paths against the API stand-in', () => {
  test('409 Conflict on the status write: reads the destination again and redoes the reconcile', async () => {
    // GIVEN the first status write will be refused with 409
    const { api } = await startController((stand) => {
      stand.create(sampleManifest());
      stand.failNext((request) => request.method === 'PATCH' && request.path.endsWith('/status'), 409);
    });
    // WHEN it reconciles THEN the status is written in the end
    await eventually(() => destinationIn(api)['status'], 5000, 'a status');
    // AND between the refused write and the accepted one it read the destination fresh
    const writes = statusWrites(api);
    expect(writes.slice(0, 2).map((request) => request.status)).toEqual([409, 200]);
    const between = api.requests.slice(api.requests.indexOf(writes[0] as RecordedRequest), api.requests.indexOf(writes[1] as RecordedRequest));
    expect(between.filter((request) => request.method === 'GET' && request.path === `${CR_PATH}/st-marys`)).toHaveLength(1);
  });

  test('a fresh read that fails after a conflict puts the key back with backoff, not away', async () => {
    // GIVEN a 409 on the status write, then a 500 on the fresh read
    const { api, logs } = await startController((stand) => {
      stand.create(sampleManifest());
      stand.failNext((request) => request.method === 'PATCH' && request.path.endsWith('/status'), 409);
      stand.failNext((request) => request.method === 'GET' && request.path === `${CR_PATH}/st-marys`, 500);
    });
    // THEN the destination is retried later and its status lands
    await eventually(() => destinationIn(api)['status'], 5000, 'a status');
    expect(logs.filter((entry) => entry.message === 'reconcile failed; retrying after a delay').map((entry) => entry.fields['status'])).toEqual([500]);
  });

  test('a real stale read: an edit it never saw makes the API server refuse the write, and the fresh read wins', async () => {
    // GIVEN a reconciled destination whose cached copy then goes stale (changed without a watch event)
    const { api, controller } = await startController((stand) => stand.create(sampleManifest()));
    await eventually(() => destinationIn(api)['status'], 5000, 'a status');
    await eventually(() => api.openWatches === 3, 5000, 'watches');
    await controller.idle();
    const cached = destinationIn(api)['metadata'].resourceVersion;
    api.touchSilently(...CR, 'dicom', 'st-marys', { 'example.com/edited': 'by hand' });
    // WHEN the fleet settles and the status must change
    settle(api);
    // THEN the write from the stale copy got 409, and the retry on a fresh read succeeded
    await eventually(() => condition(destinationIn(api), 'Ready')?.['status'] === 'True', 5000, 'Ready');
    const stale = statusWrites(api).filter((request) => request.body?.['metadata'].resourceVersion === cached);
    expect(stale.map((request) => request.status)).toEqual([409]);
    expect(statusWrites(api).at(-1)?.status).toBe(200);
    expect(destinationIn(api)['metadata'].annotations).toEqual({ 'example.com/edited': 'by hand' });
  });

  test('a conflict that persists goes back on the queue with backoff, and succeeds later', async () => {
    // GIVEN more 409s than the immediate retries (3)
    const { api, logs } = await startController((stand) => {
      stand.create(sampleManifest());
      stand.failNext((request) => request.method === 'PATCH' && request.path.endsWith('/status'), 409, 5);
    });
    // THEN the key is retried after a delay and the status lands
    await eventually(() => destinationIn(api)['status'], 8000, 'a status');
    expect(statusWrites(api).slice(0, 6).map((request) => request.status)).toEqual([409, 409, 409, 409, 409, 200]);
    expect(logs.filter((entry) => entry.message === 'reconcile failed; retrying after a delay').map((entry) => entry.fields['status'])).toEqual([409]);
  });

  test('a failing apply is retried with exponential backoff per destination', async () => {
    // GIVEN the Deployment apply fails three times with 500
    const { api, logs } = await startController((stand) => {
      stand.create(sampleManifest());
      stand.failNext((request) => request.method === 'PATCH' && request.path.endsWith('/deployments/st-marys'), 500, 3);
    });
    // THEN it gets through on the fourth attempt, after delays of 100, 200 and 400 ms
    await eventually(() => api.get('apps/v1', 'Deployment', 'dicom', 'st-marys'), 8000, 'the Deployment');
    expect(logs.filter((entry) => entry.message === 'reconcile failed; retrying after a delay').map((entry) => entry.fields['delayMs'])).toEqual([100, 200, 400]);
    const attempts = api.requests.filter((request) => request.method === 'PATCH' && request.path.endsWith('/deployments/st-marys')).map((request) => request.at);
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(90);
    expect(attempts[3]! - attempts[2]!).toBeGreaterThanOrEqual(360);
  });

  test.each(['event', 'status'] as const)('410 Gone on the watch (as %s): relists and catches up with what changed meanwhile', async (as) => {
    // GIVEN a running controller with its watches open
    const { api } = await startController();
    await eventually(() => api.openWatches === 3, 5000, 'watches');
    const listsBefore = api.requests.filter((request) => request.path === CR_PATH && !request.watch).length;
    // WHEN the cluster moves on (an object the controller does not watch), history is compacted (open
    // watches end; resuming from the old resourceVersion is Gone), and a destination appears
    api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: 'dicom' }, data: {} });
    api.expireWatches(as);
    api.create(minimalDestination('after-gone') as Loose);
    // THEN the watch got 410, the informer listed again, and the new destination was reconciled
    await eventually(() => api.get('v1', 'Service', 'dicom', 'after-gone'), 8000, 'the Service created after 410');
    expect(api.requests.filter((request) => request.path === CR_PATH && request.watch && request.gone === true).length).toBeGreaterThanOrEqual(1);
    expect(api.requests.filter((request) => request.path === CR_PATH && !request.watch).length).toBeGreaterThan(listsBefore);
    await eventually(() => api.openWatches === 3, 5000, 'watches again');
  });

  test('an informer whose list fails restarts with exponential backoff, then syncs', async () => {
    // GIVEN the first three lists of DicomDestinations fail with 500
    const { api, controller, logs } = await startController((stand) => {
      stand.create(sampleManifest());
      stand.failNext((request) => request.path === CR_PATH && !request.watch, 500, 3);
    });
    expect(controller.synced).toBe(false);
    // THEN it retried after 100, 200, 400 ms and reconciled once a list succeeded
    await eventually(() => destinationIn(api)['status'], 8000, 'a status');
    expect(controller.synced).toBe(true);
    expect(logs.filter((entry) => entry.message === 'informer failed; restarting after a delay').map((entry) => [entry.fields['kind'], entry.fields['delayMs'], entry.fields['status']]))
      .toEqual([['dicomdestinations', 100, 500], ['dicomdestinations', 200, 500], ['dicomdestinations', 400, 500]]);
    const lists = api.requests.filter((request) => request.path === CR_PATH && !request.watch).map((request) => request.at);
    expect(lists).toHaveLength(4);
    expect(lists[2]! - lists[1]!).toBeGreaterThanOrEqual(180);
    expect(lists[3]! - lists[2]!).toBeGreaterThanOrEqual(360);
  });
});

describe('deletion against the API stand-in', () => {
  test('deleting a destination needs no request: its children are the garbage collector\'s to delete', async () => {
    // GIVEN a settled destination
    const { api, controller, logs } = await startController((stand) => stand.create(sampleManifest()));
    await eventually(() => destinationIn(api)['status'], 5000, 'a status');
    await controller.idle();
    const children: KubeObject[] = [
      ...api.list('v1', 'ServiceAccount', 'dicom'), ...api.list('v1', 'ConfigMap', 'dicom'), ...api.list('apps/v1', 'Deployment', 'dicom'),
      ...api.list('autoscaling/v2', 'HorizontalPodAutoscaler', 'dicom'), ...api.list('policy/v1', 'PodDisruptionBudget', 'dicom'), ...api.list('v1', 'Service', 'dicom'),
    ] as KubeObject[];
    const uid = destinationIn(api)['metadata'].uid;
    // WHEN it is deleted
    const before = api.requests.length;
    api.delete(...CR, 'dicom', 'st-marys');
    await eventually(() => logs.find((entry) => entry.message.startsWith('DicomDestination deleted')), 5000, 'the deletion');
    await controller.idle();
    // THEN the controller sends nothing but its watches, and every child points at the deleted owner,
    // which is how a real API server's garbage collector finds and deletes them (the stand-in has none)
    expect(api.requests.slice(before).filter((request) => !request.watch)).toEqual([]);
    expect(children).toHaveLength(7);
    expect(children.every((child) => child.metadata.ownerReferences?.[0]?.uid === uid && child.metadata.ownerReferences?.[0]?.blockOwnerDeletion === true)).toBe(true);
  });
});
