/**
 * An in-process HTTP stand-in for the few Kubernetes API paths the controller and the CLI use.
 * It is NOT a Kubernetes API server: no authentication, admission, defaulting beyond
 * `spec.replicas`, CEL, garbage collection or field ownership. Server-side apply is approximated
 * (the applied fields replace the stored ones; status and other writers' `spec.replicas` are kept).
 *
 * What it does speak faithfully enough to exercise the client's I/O:
 * - discovery (`/api/v1`, `/apis/<group>/<version>`), which KubernetesObjectApi reads for plural names;
 * - list with a resourceVersion and equality label selectors;
 * - watch: a chunked stream of JSON lines from a resourceVersion, and 410 Gone once the history is
 *   compacted (as an ERROR event in a 200 stream, like the API server, or as an HTTP 410);
 * - GET, PATCH with application/apply-patch+yaml (fieldManager and force recorded) and
 *   application/merge-patch+json, including on the status subresource, where a stale
 *   metadata.resourceVersion in the body is answered with 409 Conflict;
 * - injected failures (any status, N times) on chosen requests.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';

export type Loose = Record<string, any>;

interface ResourceType {
  readonly groupVersion: string;
  readonly plural: string;
  readonly kind: string;
}

const TYPES: readonly ResourceType[] = [
  { groupVersion: 'v1', plural: 'services', kind: 'Service' },
  { groupVersion: 'v1', plural: 'configmaps', kind: 'ConfigMap' },
  { groupVersion: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount' },
  { groupVersion: 'apps/v1', plural: 'deployments', kind: 'Deployment' },
  { groupVersion: 'autoscaling/v2', plural: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler' },
  { groupVersion: 'policy/v1', plural: 'poddisruptionbudgets', kind: 'PodDisruptionBudget' },
  { groupVersion: 'dicom.destination.io/v1alpha1', plural: 'dicomdestinations', kind: 'DicomDestination' },
];

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly contentType: string | undefined;
  readonly body: Loose | undefined;
  readonly watch: boolean;
  /** When it arrived (Date.now()). */
  readonly at: number;
  status: number;
  /** A watch answered with 410 Gone (an ERROR event or an HTTP 410). */
  gone?: boolean;
}

interface Fault {
  readonly matches: (request: RecordedRequest) => boolean;
  readonly status: number;
  remaining: number;
}

interface Watcher {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly selector: Record<string, string>;
  readonly response: http.ServerResponse;
}

interface Route {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
}

function status(code: number, reason: string, message: string): Loose {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: Loose = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function parseSelector(text: string | undefined): Record<string, string> {
  if (text === undefined || text === '') return {};
  return Object.fromEntries(text.split(',').map((term) => term.split('=') as [string, string]));
}

function matchesSelector(object: Loose, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => object['metadata']?.labels?.[key] === value);
}

export class ApiStandIn {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;
  private readonly store = new Map<string, Loose>();
  private readonly events: { rv: number; type: ResourceType; event: Loose }[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly faults: Fault[] = [];
  private resourceVersion = 1000;
  private compactedThrough = 0;
  private expiredAs: 'event' | 'status' = 'event';

  private constructor(server: http.Server) {
    this.server = server;
  }

  static async start(): Promise<ApiStandIn> {
    const server = http.createServer();
    const standIn = new ApiStandIn(server);
    server.on('request', (request, response) => void standIn.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const watcher of this.watchers) watcher.response.end();
    this.watchers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Answers the next `times` requests that match with `code` (a Status body), instead of serving them. */
  failNext(matches: (request: RecordedRequest) => boolean, code: number, times = 1): void {
    this.faults.push({ matches, status: code, remaining: times });
  }

  /**
   * Compacts the event history and ends every open watch, as an API server does when etcd
   * compacts: a watch from an older resourceVersion then gets 410 Gone, `as` an ERROR event in a
   * 200 stream (what kube-apiserver sends) or as an HTTP 410 response.
   */
  expireWatches(as: 'event' | 'status' = 'event'): void {
    this.expiredAs = as;
    this.compactedThrough = this.resourceVersion;
    for (const watcher of this.watchers) watcher.response.end();
    this.watchers.clear();
  }

  /** The open watch streams. */
  get openWatches(): number {
    return this.watchers.size;
  }

  // --- The cluster's state, as the tests (standing in for users and other controllers) change it.

  get(apiVersion: string, kind: string, namespace: string, name: string): Loose | undefined {
    const value = this.store.get(this.key(this.typeOf(apiVersion, kind), namespace, name));
    return value === undefined ? undefined : structuredClone(value);
  }

  list(apiVersion: string, kind: string, namespace: string): Loose[] {
    const type = this.typeOf(apiVersion, kind);
    return [...this.store.entries()].filter(([key]) => key.startsWith(`${type.groupVersion}/${type.plural}|${namespace}|`)).map(([, value]) => structuredClone(value));
  }

  /** Creates an object as a user would (kubectl create): uid, generation 1, a resourceVersion. */
  create(object: Loose): Loose {
    const type = this.typeOf(object['apiVersion'], object['kind']);
    const stored = structuredClone(object);
    stored['metadata'] = { ...stored['metadata'], uid: randomUUID(), generation: 1, creationTimestamp: new Date().toISOString() };
    return this.write(type, stored, 'ADDED');
  }

  /** Replaces an object's spec as a user would; the generation moves. */
  updateSpec(apiVersion: string, kind: string, namespace: string, name: string, spec: Loose): Loose {
    const type = this.typeOf(apiVersion, kind);
    const stored = this.mustGet(type, namespace, name);
    stored['spec'] = structuredClone(spec);
    stored['metadata'].generation += 1;
    return this.write(type, stored, 'MODIFIED');
  }

  /** Sets an object's status as its own controller would (the Deployment controller, the AWS Load Balancer Controller). */
  setStatus(apiVersion: string, kind: string, namespace: string, name: string, value: Loose): Loose {
    const type = this.typeOf(apiVersion, kind);
    const stored = this.mustGet(type, namespace, name);
    stored['status'] = structuredClone(value);
    return this.write(type, stored, 'MODIFIED');
  }

  /** Changes an object without sending a watch event, so a client's cached copy goes stale. */
  touchSilently(apiVersion: string, kind: string, namespace: string, name: string, annotations: Record<string, string>): void {
    const type = this.typeOf(apiVersion, kind);
    const stored = this.mustGet(type, namespace, name);
    stored['metadata'].annotations = { ...stored['metadata'].annotations, ...annotations };
    stored['metadata'].resourceVersion = String(++this.resourceVersion);
    this.store.set(this.key(type, namespace, name), stored);
  }

  delete(apiVersion: string, kind: string, namespace: string, name: string): void {
    const type = this.typeOf(apiVersion, kind);
    const stored = this.mustGet(type, namespace, name);
    this.store.delete(this.key(type, namespace, name));
    stored['metadata'].resourceVersion = String(++this.resourceVersion);
    this.emit(type, 'DELETED', stored);
  }

  // --- HTTP.

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const contentType = request.headers['content-type']?.split(';')[0];
    const recorded: RecordedRequest = {
      method: request.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType,
      body: text === '' ? undefined : (contentType === 'application/apply-patch+yaml' ? parseYaml(text) : JSON.parse(text)) as Loose,
      watch: url.searchParams.get('watch') === 'true',
      at: Date.now(),
      status: 0,
    };
    this.requests.push(recorded);
    const send = (code: number, body: Loose) => {
      recorded.status = code;
      response.writeHead(code, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(body));
    };

    const fault = this.faults.find((candidate) => candidate.remaining > 0 && candidate.matches(recorded));
    if (fault !== undefined) {
      fault.remaining -= 1;
      send(fault.status, status(fault.status, fault.status === 409 ? 'Conflict' : 'InternalError', `injected ${fault.status}`));
      return;
    }
    const discovery = this.discovery(url.pathname);
    if (discovery !== undefined) {
      send(200, discovery);
      return;
    }
    const route = this.route(url.pathname);
    if (route === undefined) {
      send(404, status(404, 'NotFound', `no route ${url.pathname}`));
      return;
    }
    if (recorded.method === 'GET' && route.name === undefined) {
      if (recorded.watch) this.watch(route, recorded, response);
      else send(200, this.listBody(route, parseSelector(recorded.query['labelSelector'])));
      return;
    }
    if (recorded.method === 'GET') {
      const stored = this.store.get(this.key(route.type, route.namespace ?? '', route.name ?? ''));
      if (stored === undefined) send(404, status(404, 'NotFound', `${route.type.plural} "${route.name}" not found`));
      else send(200, stored);
      return;
    }
    if (recorded.method === 'PATCH' && route.name !== undefined) {
      const [code, body] = this.patch(route, recorded);
      send(code, body);
      return;
    }
    send(405, status(405, 'MethodNotAllowed', `${recorded.method} is not served by the stand-in`));
  }

  private discovery(pathname: string): Loose | undefined {
    const groupVersion = pathname === '/api/v1' ? 'v1' : /^\/apis\/([^/]+\/[^/]+)$/.exec(pathname)?.[1];
    if (groupVersion === undefined) return undefined;
    const resources = TYPES.filter((type) => type.groupVersion === groupVersion).map((type) => ({
      name: type.plural, singularName: type.kind.toLowerCase(), namespaced: true, kind: type.kind,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    }));
    return resources.length === 0 ? undefined : { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
  }

  private route(pathname: string): Route | undefined {
    const match = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(pathname);
    if (match === null) return undefined;
    const groupVersion = match[1] ?? match[2];
    const type = TYPES.find((candidate) => candidate.groupVersion === groupVersion && candidate.plural === match[4]);
    if (type === undefined) return undefined;
    return { type, namespace: match[3], name: match[5], subresource: match[6] };
  }

  private listBody(route: Route, selector: Record<string, string>): Loose {
    const prefix = `${route.type.groupVersion}/${route.type.plural}|`;
    const items = [...this.store.entries()]
      .filter(([key, value]) => key.startsWith(prefix) && (route.namespace === undefined || value['metadata'].namespace === route.namespace) && matchesSelector(value, selector))
      .map(([, value]) => value);
    return { apiVersion: route.type.groupVersion, kind: `${route.type.kind}List`, metadata: { resourceVersion: String(this.resourceVersion) }, items };
  }

  private watch(route: Route, recorded: RecordedRequest, response: http.ServerResponse): void {
    const from = Number(recorded.query['resourceVersion'] ?? '0');
    if (from < this.compactedThrough) {
      const gone = status(410, 'Expired', `too old resource version: ${from} (${this.compactedThrough})`);
      recorded.gone = true;
      if (this.expiredAs === 'status') {
        recorded.status = 410;
        response.writeHead(410, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify(gone));
      } else {
        recorded.status = 200;
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
      }
      return;
    }
    recorded.status = 200;
    response.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    response.flushHeaders();
    const watcher: Watcher = { type: route.type, namespace: route.namespace, selector: parseSelector(recorded.query['labelSelector']), response };
    for (const { rv, type, event } of this.events) {
      if (rv > from && this.wants(watcher, type, event['object'])) response.write(`${JSON.stringify(event)}\n`);
    }
    this.watchers.add(watcher);
    response.on('close', () => this.watchers.delete(watcher));
  }

  private wants(watcher: Watcher, type: ResourceType, object: Loose): boolean {
    return watcher.type === type && (watcher.namespace === undefined || object['metadata'].namespace === watcher.namespace) && matchesSelector(object, watcher.selector);
  }

  private patch(route: Route, recorded: RecordedRequest): [number, Loose] {
    const key = this.key(route.type, route.namespace ?? '', route.name ?? '');
    const stored = this.store.get(key);
    const body = recorded.body ?? {};
    if (recorded.contentType === 'application/apply-patch+yaml') {
      if (recorded.query['fieldManager'] === undefined) return [400, status(400, 'BadRequest', 'fieldManager is required for apply patch')];
      if (route.subresource !== undefined) return [400, status(400, 'BadRequest', 'the stand-in applies main resources only')];
      if (stored === undefined) {
        const created = structuredClone(body);
        created['metadata'] = { ...created['metadata'], uid: randomUUID(), generation: 1, creationTimestamp: new Date().toISOString() };
        if (route.type.kind === 'Deployment' && created['spec']?.replicas === undefined) created['spec'] = { ...created['spec'], replicas: 1 };
        return [201, this.write(route.type, created, 'ADDED')];
      }
      const next = structuredClone(stored);
      for (const [field, value] of Object.entries(body)) {
        if (field !== 'metadata' && field !== 'status') next[field] = structuredClone(value);
      }
      // Fields the applier does not send stay with their other owners (here: the HPA's replica count).
      if (route.type.kind === 'Deployment' && body['spec']?.replicas === undefined) next['spec'].replicas = stored['spec']?.replicas;
      for (const field of ['labels', 'annotations', 'ownerReferences']) next['metadata'][field] = body['metadata']?.[field];
      if (JSON.stringify(next) === JSON.stringify(stored)) return [200, stored];
      if (JSON.stringify(next['spec'] ?? next['data']) !== JSON.stringify(stored['spec'] ?? stored['data'])) next['metadata'].generation += 1;
      return [200, this.write(route.type, next, 'MODIFIED')];
    }
    if (recorded.contentType === 'application/merge-patch+json') {
      if (stored === undefined) return [404, status(404, 'NotFound', `${route.type.plural} "${route.name}" not found`)];
      const precondition = body['metadata']?.resourceVersion;
      if (precondition !== undefined && precondition !== stored['metadata'].resourceVersion) {
        return [409, status(409, 'Conflict', `Operation cannot be fulfilled on ${route.type.plural} "${route.name}": the object has been modified; please apply your changes to the latest version and try again`)];
      }
      const next = structuredClone(stored);
      if (route.subresource === 'status') next['status'] = mergePatch(stored['status'], body['status'] ?? {});
      else Object.assign(next, mergePatch(stored, { ...body, metadata: undefined, status: undefined }), { metadata: stored['metadata'], status: stored['status'] });
      return [200, this.write(route.type, next, 'MODIFIED')];
    }
    return [415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/apply-patch+yaml (got ${recorded.contentType})`)];
  }

  private write(type: ResourceType, object: Loose, event: 'ADDED' | 'MODIFIED'): Loose {
    object['metadata'].resourceVersion = String(++this.resourceVersion);
    this.store.set(this.key(type, object['metadata'].namespace, object['metadata'].name), object);
    this.emit(type, event, object);
    return structuredClone(object);
  }

  private emit(type: ResourceType, eventType: string, object: Loose): void {
    const event = { type: eventType, object: structuredClone(object) };
    this.events.push({ rv: this.resourceVersion, type, event });
    for (const watcher of this.watchers) {
      if (this.wants(watcher, type, object)) watcher.response.write(`${JSON.stringify(event)}\n`);
    }
  }

  private typeOf(apiVersion: string, kind: string): ResourceType {
    const type = TYPES.find((candidate) => candidate.groupVersion === apiVersion && candidate.kind === kind);
    if (type === undefined) throw new Error(`the stand-in does not serve ${apiVersion} ${kind}`);
    return type;
  }

  private key(type: ResourceType, namespace: string, name: string): string {
    return `${type.groupVersion}/${type.plural}|${namespace}|${name}`;
  }

  private mustGet(type: ResourceType, namespace: string, name: string): Loose {
    const stored = this.store.get(this.key(type, namespace, name));
    if (stored === undefined) throw new Error(`no ${type.kind} ${namespace}/${name} in the stand-in`);
    return structuredClone(stored);
  }
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError === undefined ? '' : `: ${String(lastError)}`}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
