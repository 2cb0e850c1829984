// Orthanc (Debian 1.10.1) as a real PACS peer: it receives from storescu and
// sends studies to a modality (our listener, storescp) via its REST API.
//
// Orthanc 1.10.1 has no bind-address option: HTTP and DICOM listen on every
// interface, so it only ever runs inside the isolated network namespace.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertIsolatedNetwork } from './isolation.ts';
import { requirePeer } from './peers.ts';
import { freePort, httpStatus, isAlive, isListening, stopPid, tailFile, waitFor } from './proc.ts';
import { makeWorkDir } from './work-dir.ts';

export interface Modality {
  aet: string;
  host: string;
  port: number;
}

export interface OrthancOptions {
  /** 0 or omitted: a free port is picked. */
  dicomPort?: number;
  httpPort?: number;
  /** Orthanc's own AE title; default ORTHANC. */
  aet?: string;
  /** Remote modalities by symbolic name (used in /modalities/{name}/...). */
  modalities?: Record<string, Modality>;
  /** Extra configuration keys merged over ours. */
  config?: Record<string, unknown>;
  dir?: string;
}

export interface StoreJobResult {
  Description?: string;
  FailedInstancesCount: number;
  InstancesCount: number;
  LocalAet?: string;
  ParentResources?: string[];
  RemoteAet: string;
  [k: string]: unknown;
}

export interface OrthancClient {
  pid: number;
  dicomPort: number;
  httpPort: number;
  aet: string;
  baseUrl: string;
  dir: string;
  logFile: string;
  /** POST /instances: returns Orthanc's instance id. */
  uploadInstance(path: string): Promise<string>;
  /** POST /modalities/{name}/echo: true on success (HTTP 200). */
  echo(modality: string): Promise<boolean>;
  /** POST /modalities/{name}/store; throws with Orthanc's error body on failure. */
  storeToModality(modality: string, resources: string[], synchronous?: boolean): Promise<StoreJobResult>;
  listStudies(): Promise<string[]>;
  listInstances(): Promise<string[]>;
  /** GET any REST path, parsed JSON. */
  get<T = unknown>(path: string): Promise<T>;
  stop(): Promise<void>;
}

async function request<T>(method: string, url: string, body?: string | Uint8Array): Promise<T> {
  const res = await fetch(url, { method, body, signal: AbortSignal.timeout(110_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`Orthanc ${method} ${url} -> HTTP ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function startOrthanc(opts: OrthancOptions = {}): Promise<OrthancClient> {
  assertIsolatedNetwork('Orthanc');
  const bin = requirePeer('Orthanc');
  const dir = opts.dir ?? (await makeWorkDir('orthanc-'));
  const dicomPort = opts.dicomPort || (await freePort());
  const httpPort = opts.httpPort || (await freePort());
  const aet = opts.aet ?? 'ORTHANC';
  await mkdir(join(dir, 'db'), { recursive: true });
  const config = {
    Name: 'TEST-ORTHANC',
    StorageDirectory: join(dir, 'db'),
    IndexDirectory: join(dir, 'db'),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: aet,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomCheckCalledAet: false,
    Plugins: [],
    LuaScripts: [],
    // Release SCU associations right after a store instead of 5 s later, so
    // the receiver sees the release promptly.
    DicomAssociationCloseDelay: 0,
    SaveJobs: false,
    SyncStorageArea: false,
    DicomModalities: Object.fromEntries(
      Object.entries(opts.modalities ?? {}).map(([name, m]) => [name, { AET: m.aet, Host: m.host, Port: m.port }]),
    ),
    ...opts.config,
  };
  const configFile = join(dir, 'orthanc.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const logFile = join(dir, 'orthanc.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, [configFile], { cwd: dir, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new Error('failed to spawn Orthanc');
  child.on('error', () => {});
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  try {
    await waitFor('Orthanc HTTP /system and DICOM port', async () => (await httpStatus(`${baseUrl}/system`)) === 200 && isListening(dicomPort), {
      timeoutMs: 30_000,
      intervalMs: 50,
      abortIf: () => (isAlive(pid) ? undefined : 'Orthanc exited'),
    });
  } catch (e) {
    await stopPid(pid, 'SIGKILL');
    throw new Error(`${(e as Error).message}\n${tailFile(logFile)}`);
  }

  return {
    pid,
    dicomPort,
    httpPort,
    aet,
    baseUrl,
    dir,
    logFile,
    async uploadInstance(path) {
      const r = await request<{ ID: string; Status: string }>('POST', `${baseUrl}/instances`, await readFile(path));
      return r.ID;
    },
    async echo(modality) {
      const res = await fetch(`${baseUrl}/modalities/${encodeURIComponent(modality)}/echo`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(60_000) });
      await res.arrayBuffer();
      return res.ok;
    },
    storeToModality(modality, resources, synchronous = true) {
      return request<StoreJobResult>(
        'POST',
        `${baseUrl}/modalities/${encodeURIComponent(modality)}/store`,
        JSON.stringify({ Resources: resources, Synchronous: synchronous }),
      );
    },
    listStudies: () => request<string[]>('GET', `${baseUrl}/studies`),
    listInstances: () => request<string[]>('GET', `${baseUrl}/instances`),
    get: <T>(path: string) => request<T>('GET', `${baseUrl}${path.startsWith('/') ? '' : '/'}${path}`),
    stop: () => stopPid(pid, 'SIGTERM', 10_000),
  };
}
