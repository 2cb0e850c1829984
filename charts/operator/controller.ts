/**
 * The controller's I/O shell around the pure `reconcile`: informers (list + watch) on
 * DicomDestinations and on the Deployments and Services it owns feed one work queue keyed by
 * `namespace/name`; each reconcile reads the children, server-side applies what `reconcile`
 * renders under one field manager, and writes the status through the status subresource.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  KubernetesObjectApi,
  makeInformer,
  type ObjectCache,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import {
  type DicomDestination,
  type DicomDestinationStatus,
  FIELD_MANAGER,
  GROUP,
  KIND,
  type KubeObject,
  MANAGED_BY,
  objectKey,
  PLURAL,
  VERSION,
} from './dicom-destination.ts';
import { httpStatus } from './api-errors.ts';
import { childReferences, type ControllerSettings, reconcile } from './reconcile.ts';
import { WorkQueue } from './work-queue.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** JSON lines on stdout, like the listener; the Fargate log router ships them. */
export const jsonLogger: Logger = (level, message, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`);
};

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly settings: ControllerSettings;
  /** The namespace whose DicomDestinations are managed; '' for every namespace (needs a ClusterRole). */
  readonly namespace: string;
  /** Every destination is reconciled again this often, events or not. @default 600000 */
  readonly resyncMs?: number;
  /** Informer restarts after an error wait this long first, doubling up to `maxMs`. @default { initialMs: 1000, maxMs: 60000 } */
  readonly informerBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** An informer that ran this long before failing restarts from the initial delay again. @default 30000 */
  readonly informerStableMs?: number;
  /** Failed reconciles are retried after this delay, doubling up to `maxMs`. @default { baseMs: 1000, maxMs: 300000 } */
  readonly retry?: { readonly baseMs: number; readonly maxMs: number };
  /** Keys reconciled at the same time (never one key twice). @default 1 */
  readonly workers?: number;
  /** 409 Conflicts retried at once, with a fresh read, before the key goes back on the queue with backoff. @default 3 */
  readonly conflictRetries?: number;
  readonly clock?: () => Date;
  readonly log?: Logger;
}

interface WatchedKind {
  readonly name: string;
  readonly informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  synced: boolean;
  errors: number;
  delayMs: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
}

/** JSON with sorted keys, to compare what the API server returns with what reconcile computed. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (item !== null && typeof item === 'object' && !Array.isArray(item)
    ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
    : item));
}

/** An RFC 7386 merge patch turning `before` into `after` (removed fields become null). */
export function mergePatch(before: unknown, after: unknown): unknown {
  const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
  if (!isObject(before) || !isObject(after)) return after;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    if (canonical(before[key]) !== canonical(value)) patch[key] = mergePatch(before[key], value);
  }
  return patch;
}

export class DestinationController {
  private readonly options: ControllerOptions;
  private readonly log: Logger;
  private readonly clock: () => Date;
  private readonly objects: KubernetesObjectApi;
  private readonly customObjects: CustomObjectsApi;
  private readonly queue: WorkQueue;
  private readonly destinations: WatchedKind;
  private readonly watched: WatchedKind[];
  /** The generation last queued per key: status-only updates (our own writes) do not queue a reconcile. */
  private readonly seenGenerations = new Map<string, number | undefined>();
  /**
   * The object our last status write returned, with the resourceVersion it replaced. Until the watch
   * delivers that write, the cache still holds the replaced version; reconciling from it would only
   * earn a 409.
   */
  private readonly written = new Map<string, { readonly replaced: string | undefined; readonly object: DicomDestination }>();
  private resyncTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.log = options.log ?? jsonLogger;
    this.clock = options.clock ?? (() => new Date());
    const kc = options.kubeConfig;
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.customObjects = kc.makeApiClient(CustomObjectsApi);
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    this.queue = new WorkQueue((key) => this.reconcileKey(key), {
      workers: options.workers ?? 1,
      retryBaseMs: options.retry?.baseMs ?? 1000,
      retryMaxMs: options.retry?.maxMs ?? 300_000,
    });

    const ns = options.namespace;
    const group = `/apis/${GROUP}/${VERSION}`;
    const owned = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
    const listDestinations = (): Promise<KubernetesListObject<KubernetesObject>> => (ns === ''
      ? this.customObjects.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, resourcePlural: PLURAL })
      : this.customObjects.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL }));
    this.destinations = this.watchKind('dicomdestinations', ns === '' ? `${group}/${PLURAL}` : `${group}/namespaces/${ns}/${PLURAL}`, listDestinations);
    const deployments = this.watchKind('deployments', ns === '' ? '/apis/apps/v1/deployments' : `/apis/apps/v1/namespaces/${ns}/deployments`,
      () => (ns === '' ? apps.listDeploymentForAllNamespaces({ labelSelector: owned }) : apps.listNamespacedDeployment({ namespace: ns, labelSelector: owned })), owned);
    const services = this.watchKind('services', ns === '' ? '/api/v1/services' : `/api/v1/namespaces/${ns}/services`,
      () => (ns === '' ? core.listServiceForAllNamespaces({ labelSelector: owned }) : core.listNamespacedService({ namespace: ns, labelSelector: owned })), owned);
    this.watched = [this.destinations, deployments, services];

    this.destinations.informer.on('add', (object) => this.onDestination(object, 'add'));
    this.destinations.informer.on('update', (object) => this.onDestination(object, 'update'));
    this.destinations.informer.on('delete', (object) => {
      const key = objectKey(object.metadata ?? {});
      this.seenGenerations.delete(key);
      // Nothing to clean up: every child has this object as controller owner, so the garbage collector deletes them.
      this.log('info', 'DicomDestination deleted; the garbage collector deletes its children', { destination: key });
    });
    for (const kind of [deployments, services]) {
      for (const verb of ['add', 'update', 'delete'] as const) kind.informer.on(verb, (object) => this.onChild(object));
    }
  }

  /** Starts the informers; resolves when each has listed once (or failed and is retrying). */
  async start(): Promise<void> {
    await Promise.all(this.watched.map((kind) => this.startInformer(kind)));
    const resyncMs = this.options.resyncMs ?? 600_000;
    this.resyncTimer = setInterval(() => {
      for (const destination of this.destinations.informer.list()) this.queue.add(objectKey(destination.metadata ?? {}));
    }, resyncMs);
    this.resyncTimer.unref();
  }

  /** Stops watching, drops queued work and waits for the reconcile in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    for (const kind of this.watched) clearTimeout(kind.timer);
    await Promise.all(this.watched.map((kind) => kind.informer.stop()));
    await this.queue.shutdown();
  }

  /** Every informer has listed since its last error: the cache is complete. */
  get synced(): boolean {
    return this.watched.every((kind) => kind.synced);
  }

  /** Resolves when no reconcile is queued or running (retries waiting on a delay do not count). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private watchKind(name: string, path: string, list: () => Promise<KubernetesListObject<KubernetesObject>>, labelSelector?: string): WatchedKind {
    const informer = makeInformer(this.options.kubeConfig, path, list, labelSelector);
    const kind: WatchedKind = { name, informer, synced: false, errors: 0, delayMs: 0, startedAt: 0 };
    informer.on('error', (error: unknown) => this.onInformerError(kind, error));
    return kind;
  }

  private async startInformer(kind: WatchedKind): Promise<void> {
    if (this.stopped) return;
    const errorsBefore = kind.errors;
    kind.startedAt = Date.now();
    await kind.informer.start();
    if (kind.errors === errorsBefore && !this.stopped) {
      if (!kind.synced) this.log('info', 'informer listed and watching', { kind: kind.name });
      kind.synced = true;
    }
  }

  /**
   * client-node's ListWatch relists by itself after 410 Gone and reconnects after a watch ends; on any
   * other error it stops and reports here. It is restarted after an exponential delay, which starts
   * over once it has run for a while.
   */
  private onInformerError(kind: WatchedKind, error: unknown): void {
    if (this.stopped) return;
    kind.errors += 1;
    kind.synced = false;
    const { initialMs, maxMs } = this.options.informerBackoff ?? { initialMs: 1000, maxMs: 60_000 };
    const stable = Date.now() - kind.startedAt >= (this.options.informerStableMs ?? 30_000);
    kind.delayMs = stable || kind.delayMs === 0 ? initialMs : Math.min(kind.delayMs * 2, maxMs);
    this.log('warn', 'informer failed; restarting after a delay', {
      kind: kind.name, delayMs: kind.delayMs, status: httpStatus(error), error: (error as Error)?.message ?? String(error),
    });
    clearTimeout(kind.timer);
    kind.timer = setTimeout(() => void this.startInformer(kind), kind.delayMs);
  }

  private onDestination(object: KubernetesObject, verb: 'add' | 'update'): void {
    const key = objectKey(object.metadata ?? {});
    const generation = object.metadata?.generation;
    // Our own status writes change the resourceVersion but not the generation: no need to reconcile for them.
    if (verb === 'update' && this.seenGenerations.has(key) && this.seenGenerations.get(key) === generation) return;
    this.seenGenerations.set(key, generation);
    this.queue.add(key);
  }

  private onChild(object: KubernetesObject): void {
    const owner = object.metadata?.ownerReferences?.find((reference) => reference.controller === true && reference.kind === KIND
      && reference.apiVersion.startsWith(`${GROUP}/`));
    if (owner !== undefined) this.queue.add(objectKey({ namespace: object.metadata?.namespace, name: owner.name }));
  }

  private async reconcileKey(key: string): Promise<void> {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    let destination = this.destinations.informer.get(name, namespace) as DicomDestination | undefined;
    const written = this.written.get(key);
    this.written.delete(key);
    if (destination !== undefined && written !== undefined && destination.metadata.resourceVersion === written.replaced) destination = written.object;
    const conflictRetries = this.options.conflictRetries ?? 3;
    for (let attempt = 0; destination !== undefined; attempt += 1) {
      try {
        const requeueAfterSeconds = await this.reconcileOnce(destination);
        this.queue.forget(key);
        if (requeueAfterSeconds !== undefined) this.queue.addAfter(key, requeueAfterSeconds * 1000);
        return;
      } catch (error) {
        const status = httpStatus(error);
        if (status === 409 && attempt < conflictRetries) {
          // Our copy was stale (someone wrote in between): read it again and redo the whole reconcile.
          this.log('info', 'conflict; retrying with a fresh read', { destination: key, attempt: attempt + 1 });
          try {
            destination = await this.readDestination(namespace, name);
          } catch (readError) {
            this.retryLater(key, readError);
            return;
          }
          continue;
        }
        // A 404 because the destination itself is gone (deleted mid-reconcile) needs nothing more.
        if (status === 404 && (await this.readDestination(namespace, name).catch(() => 'unknown')) === undefined) return;
        this.retryLater(key, error);
        return;
      }
    }
  }

  private retryLater(key: string, error: unknown): void {
    const delayMs = this.queue.addRateLimited(key);
    this.log('error', 'reconcile failed; retrying after a delay', { destination: key, status: httpStatus(error), delayMs, error: (error as Error)?.message ?? String(error) });
  }

  private async readDestination(namespace: string, name: string): Promise<DicomDestination | undefined> {
    try {
      return await this.customObjects.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name }) as DicomDestination;
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw error;
    }
  }

  private async readChild(reference: ReturnType<typeof childReferences>[number]): Promise<KubeObject | undefined> {
    try {
      return await this.objects.read({ apiVersion: reference.apiVersion, kind: reference.kind, metadata: { name: reference.name, namespace: reference.namespace } }) as unknown as KubeObject;
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw error;
    }
  }

  /** One pass: read the children, apply what reconcile renders, write the status. Returns when to look again. */
  private async reconcileOnce(destination: DicomDestination): Promise<number | undefined> {
    const key = objectKey(destination.metadata);
    const children = await Promise.all(childReferences(destination).map((reference) => this.readChild(reference)));
    const observed = children.filter((child): child is KubeObject => child !== undefined);
    let result = reconcile({ destination, observed, settings: this.options.settings, now: this.clock() });
    if (result.desired.length > 0) {
      const applied: KubeObject[] = [];
      for (const child of result.desired) {
        // Server-side apply: create or update, owning exactly the fields we send; force takes them over from other managers.
        applied.push(await this.objects.patch(structuredClone(child) as never, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply) as unknown as KubeObject);
      }
      // The status describes the children as they are after the apply (e.g. a Deployment with a new generation).
      result = reconcile({ destination, observed: applied, settings: this.options.settings, now: this.clock() });
      this.log('debug', 'applied', { destination: key, children: applied.map((child) => `${child.kind}/${child.metadata.name}`) });
    }
    if (result.status !== undefined && canonical(destination.status ?? {}) !== canonical(result.status)) {
      await this.writeStatus(destination, result.status);
      const ready = result.status.conditions?.find((condition) => condition.type === 'Ready');
      this.log('info', 'status written', { destination: key, generation: destination.metadata.generation, ready: ready?.status, reason: ready?.reason, endpoint: result.status.endpoint });
    }
    return result.requeueAfterSeconds;
  }

  /**
   * A merge patch on the status subresource, with the resourceVersion we read as a precondition:
   * if the object changed since, the API server answers 409 and the reconcile is redone on a fresh read.
   */
  private async writeStatus(destination: DicomDestination, status: DicomDestinationStatus): Promise<void> {
    const body = { metadata: { resourceVersion: destination.metadata.resourceVersion }, status: mergePatch(destination.status ?? {}, status) };
    const updated = await this.customObjects.patchNamespacedCustomObjectStatus({
      group: GROUP, version: VERSION, namespace: destination.metadata.namespace ?? '', plural: PLURAL, name: destination.metadata.name, body, fieldManager: FIELD_MANAGER,
    }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)) as DicomDestination;
    this.written.set(objectKey(destination.metadata), { replaced: destination.metadata.resourceVersion, object: updated });
  }
}
