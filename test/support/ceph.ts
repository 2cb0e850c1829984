// A throwaway single-node Ceph cluster serving real S3 (RADOS Gateway).
//
// Why Ceph and not an S3 mock: RGW 16.2 (Debian 12) is a real S3
// implementation (multipart ETags, ListMultipartUploads, 411 on unsigned
// streaming, real HTTP 5xx/connection drops when the gateway dies), and it
// can be stopped and restarted under the listener to test fault handling.
// Recipe: /work/shared/research/feasibility.md §5 (mon + memstore OSD + rgw,
// auth none, all bound to 127.0.0.1, ~12 s cold start).
//
// Layout of the cluster dir:
//   ceph.conf, state.json      configuration and the settings tests need
//   run/mon.pid run/osd.pid    daemon PIDs
//   run/rgw.<name>.json        {pid, port} of each gateway, rewritten on restart
//   log/                       daemon logs (tails go into error messages)
// PIDs live in per-daemon files (written atomically) rather than inside
// state.json so that concurrent test workers restarting different gateways
// never race on one file; teardown kills whatever the pid files say now.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cephSettings, type CephSettings } from './context.ts';
import { requirePeer } from './peers.ts';
import { freePort, httpStatus, isAlive, run, spawnDaemon, stopPid, tailFile, waitFor, waitForExit } from './proc.ts';

export type { CephSettings } from './context.ts';

export const CEPH_ACCESS_KEY = 'DICOMTESTACCESSKEY01';
export const CEPH_SECRET_KEY = 'dicomTestSecretKey0123456789abcdefABCDEF';
/** Name of the gateway every test file shares. */
export const SHARED_GATEWAY = 'a';
/**
 * Memstore keeps every object in the OSD's RAM; this is its capacity. One
 * test uploads a >= 1 GiB instance (and RGW may briefly hold both the
 * multipart parts and GC leftovers), so 6 GiB leaves room on a 24 GiB runner.
 */
export const DEFAULT_MEMSTORE_BYTES = 6 * 1024 ** 3;

interface CephState extends CephSettings {
  conf: string;
  fsid: string;
}

interface GatewayRecord {
  pid: number;
  port: number;
}

const CEPH_BINARIES = ['ceph-mon', 'ceph-osd', 'monmaptool', 'ceph', 'radosgw', 'radosgw-admin'];

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

function readState(stateFile: string): CephState {
  return JSON.parse(readFileSync(stateFile, 'utf8')) as CephState;
}

function gatewayFile(cephDir: string, name: string): string {
  return join(cephDir, 'run', `rgw.${name}.json`);
}

function gatewayLog(cephDir: string, name: string): string {
  return join(cephDir, 'log', `client.rgw.${name}.log`);
}

function cephConf(d: string, fsid: string, monV2: number, monV1: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = [v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
# Required with auth none, else radosgw loops on "get_initial_auth_request returned -13".
ms mon client mode = crc
ms client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
# The runner's disk would otherwise raise MON_DISK_LOW.
mon data avail warn = 1
mon data avail crit = 0
osd crush chooseleaf type = 0
# Each monitor map change (pool create, application enable, ...) otherwise
# waits for the 1 s paxos proposal interval; RGW's first start and first
# bucket/object need ~20 of them. These make cold start several seconds faster.
paxos propose interval = 0.05
paxos min wait = 0.01
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
run dir = ${d}/run
admin socket = ${d}/run/$name.asok
log file = ${d}/log/$name.log
mon data = ${d}/mon/$cluster-$id
osd data = ${d}/osd/$cluster-$id
# Deleted/overwritten objects and aborted multipart parts are garbage-collected
# after rgw_gc_obj_min_wait (default 2 h). Memstore holds them in RAM, so
# collect quickly: large-instance tests would otherwise fill the OSD.
rgw gc obj min wait = 10
rgw gc processor period = 10
rgw enable usage log = false
# The lifecycle threads sleep 5 s between lock attempts and radosgw's
# SIGTERM shutdown waits for them; tests use no bucket lifecycle rules.
rgw enable lc threads = false
rgw enable ops log = false
`;
}

/** Tail of the named logs (default: every daemon's), for error messages. */
export function logTails(cephDir: string, names = ['mon.a.log', 'osd.0.log', 'osd.out', 'rgw.a.out', 'client.rgw.a.log']): string {
  return names
    .map((n) => {
      const t = tailFile(join(cephDir, 'log', n), 25).trim();
      return t ? `--- ${n} ---\n${t}` : '';
    })
    .filter(Boolean)
    .join('\n');
}

async function mustRun(cephDir: string, cmd: string, args: string[], logs: string[], timeoutMs = 60_000): Promise<string> {
  const r = await run(cmd, args, { timeoutMs, cwd: cephDir });
  if (r.code !== 0) {
    throw new Error(`Ceph setup: \`${cmd} ${args.join(' ')}\` failed (code ${r.code}, signal ${r.signal}):\n${r.stderr.trim()}\n${r.stdout.trim()}\n${logTails(cephDir, logs)}`);
  }
  return r.stdout;
}

/**
 * Spawns (or respawns) gateway `name` on `port`, records its PID, and waits
 * until it answers HTTP 200 on "/". The first start creates the RGW pools
 * (~10 s); later starts take about a second.
 */
async function spawnGateway(state: CephState, name: string, port: number, timeoutMs = 60_000): Promise<GatewayRecord> {
  const radosgw = requirePeer('radosgw');
  const outLog = join(state.cephDir, 'log', `rgw.${name}.out`);
  const pid = spawnDaemon(radosgw, ['-c', state.conf, '-n', `client.rgw.${name}`, '-f', `--rgw_frontends=beast endpoint=127.0.0.1:${port}`], {
    logFile: outLog,
    cwd: state.cephDir,
  });
  const rec = { pid, port };
  writeJsonAtomic(gatewayFile(state.cephDir, name), rec);
  try {
    await waitFor(`radosgw ${name} to answer HTTP 200 on 127.0.0.1:${port}`, async () => (await httpStatus(`http://127.0.0.1:${port}/`)) === 200, {
      timeoutMs,
      intervalMs: 200,
      abortIf: () => (isAlive(pid) ? undefined : 'radosgw exited'),
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${logTails(state.cephDir, [`rgw.${name}.out`, `client.rgw.${name}.log`])}`);
  }
  return rec;
}

/**
 * Starts mon + memstore OSD + the shared gateway in `cephDir` (created; must
 * be short, admin sockets are Unix sockets limited to 107 bytes) and creates
 * an S3 user with known keys. Returns the settings tests need.
 */
export async function startCeph(cephDir: string, { memstoreBytes = DEFAULT_MEMSTORE_BYTES } = {}): Promise<CephSettings> {
  for (const b of CEPH_BINARIES) requirePeer(b);
  for (const sub of ['run', 'log', 'mon', 'osd/ceph-0']) mkdirSync(join(cephDir, sub), { recursive: true });
  const [monV2, monV1, rgwPort] = [await freePort(), await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = join(cephDir, 'ceph.conf');
  writeFileSync(conf, cephConf(cephDir, fsid, monV2, monV1, memstoreBytes));
  const state: CephState = {
    endpoint: `http://127.0.0.1:${rgwPort}`,
    region: 'us-east-1',
    accessKeyId: CEPH_ACCESS_KEY,
    secretAccessKey: CEPH_SECRET_KEY,
    cephDir,
    stateFile: join(cephDir, 'state.json'),
    conf,
    fsid,
  };
  writeJsonAtomic(state.stateFile, state);

  // Monitor. `--addv` registers both v2 and v1 addresses; `--add` would make
  // the CLI hang on auth (feasibility.md §5 pitfalls).
  const monmap = join(cephDir, 'monmap');
  await mustRun(cephDir, requirePeer('monmaptool'), ['--create', '--addv', 'a', `[v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]`, '--fsid', fsid, monmap], []);
  await mustRun(cephDir, requirePeer('ceph-mon'), ['-c', conf, '--mkfs', '-i', 'a', '--monmap', monmap], ['mon.a.log']);
  const monPid = spawnDaemon(requirePeer('ceph-mon'), ['-c', conf, '-i', 'a', '-f'], { logFile: join(cephDir, 'log', 'mon.out'), cwd: cephDir });
  writeFileSync(join(cephDir, 'run', 'mon.pid'), `${monPid}\n`);

  // OSD 0 with the in-memory object store.
  const osdId = (await mustRun(cephDir, requirePeer('ceph'), ['-c', conf, '--connect-timeout', '30', 'osd', 'create'], ['mon.out', 'mon.a.log'])).trim();
  if (osdId !== '0') throw new Error(`Ceph setup: expected osd id 0, got ${JSON.stringify(osdId)}`);
  await mustRun(cephDir, requirePeer('ceph-osd'), ['-c', conf, '-i', '0', '--mkfs'], ['osd.0.log']);
  const osdPid = spawnDaemon(requirePeer('ceph-osd'), ['-c', conf, '-i', '0', '-f'], { logFile: join(cephDir, 'log', 'osd.out'), cwd: cephDir });
  writeFileSync(join(cephDir, 'run', 'osd.pid'), `${osdPid}\n`);

  // Shared gateway; its first start creates the RGW pools.
  try {
    await spawnGateway(state, SHARED_GATEWAY, rgwPort, 90_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${logTails(cephDir, ['osd.out', 'osd.0.log', 'mon.a.log'])}`);
  }
  await mustRun(
    cephDir,
    requirePeer('radosgw-admin'),
    ['-c', conf, 'user', 'create', '--uid=dicom-test', '--display-name=DICOM test', `--access-key=${CEPH_ACCESS_KEY}`, `--secret=${CEPH_SECRET_KEY}`],
    [`client.admin.log`],
  );
  const { conf: _c, fsid: _f, ...settings } = state;
  return settings;
}

/** PIDs of every daemon the cluster dir records (mon, osd, all gateways). */
export function recordedPids(cephDir: string): { name: string; pid: number }[] {
  const out: { name: string; pid: number }[] = [];
  const runDir = join(cephDir, 'run');
  let files: string[] = [];
  try {
    files = readdirSync(runDir);
  } catch {
    return out;
  }
  for (const f of files) {
    try {
      if (f.endsWith('.pid')) out.push({ name: f.slice(0, -4), pid: Number(readFileSync(join(runDir, f), 'utf8').trim()) });
      else if (/^rgw\..+\.json$/.test(f)) out.push({ name: f.slice(0, -5), pid: (JSON.parse(readFileSync(join(runDir, f), 'utf8')) as GatewayRecord).pid });
    } catch {
      // half-written or vanished file: nothing to kill
    }
  }
  return out.filter((p) => Number.isInteger(p.pid) && p.pid > 0);
}

/**
 * Kills every recorded daemon (gateways first, then OSD, then mon) and
 * removes the cluster dir. SIGKILL is fine: memstore has nothing to flush,
 * and a graceful OSD shutdown costs 5-8 s.
 */
export async function stopCeph(cephDir: string, { keepDir = false } = {}): Promise<void> {
  const order = (n: string) => (n.startsWith('rgw.') ? 0 : n === 'osd' ? 1 : 2);
  const pids = recordedPids(cephDir).sort((a, b) => order(a.name) - order(b.name));
  for (const { pid } of pids) await stopPid(pid, 'SIGKILL');
  if (!keepDir) rmSync(cephDir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// Fault control, usable from any test worker: state comes from the state file.

function stateFor(stateFile?: string): CephState {
  return readState(stateFile ?? cephSettings().stateFile);
}

function gatewayRecord(state: CephState, name: string): GatewayRecord {
  try {
    return JSON.parse(readFileSync(gatewayFile(state.cephDir, name), 'utf8')) as GatewayRecord;
  } catch {
    throw new Error(`no radosgw gateway named ${JSON.stringify(name)} in ${state.cephDir}`);
  }
}

export interface GatewayOptions {
  /** Gateway name; default the shared gateway "a" that every test file uses. */
  gateway?: string;
  stateFile?: string;
}

/** Stops the gateway (SIGTERM by its recorded PID) and waits until it has exited. */
export async function stopRgw({ gateway = SHARED_GATEWAY, stateFile }: GatewayOptions = {}): Promise<void> {
  const { pid } = gatewayRecord(stateFor(stateFile), gateway);
  await stopPid(pid, 'SIGTERM', 15_000);
}

/** SIGKILLs the gateway (no graceful connection close) and waits until it is gone. */
export async function killRgw({ gateway = SHARED_GATEWAY, stateFile }: GatewayOptions = {}): Promise<void> {
  const { pid } = gatewayRecord(stateFor(stateFile), gateway);
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGKILL');
  await waitForExit(pid, 10_000);
}

/** Starts the gateway again on its port (detached; new PID recorded) and waits for HTTP 200 on "/". */
export async function startRgw({ gateway = SHARED_GATEWAY, stateFile }: GatewayOptions = {}): Promise<void> {
  const state = stateFor(stateFile);
  const rec = gatewayRecord(state, gateway);
  if (isAlive(rec.pid)) throw new Error(`radosgw ${gateway} (pid ${rec.pid}) is still running`);
  await spawnGateway(state, gateway, rec.port);
}

export function rgwPid({ gateway = SHARED_GATEWAY, stateFile }: GatewayOptions = {}): number {
  return gatewayRecord(stateFor(stateFile), gateway).pid;
}

/**
 * Starts an additional gateway process on its own port, serving the same
 * cluster (same users, buckets and objects). A test file that stops/kills
 * RGW should point the listener at its own gateway, so that test files
 * running in parallel on the shared gateway see no outage. Global teardown
 * kills it (its PID is recorded); `stop()` ends it early.
 */
export async function startPrivateGateway(
  name = `p${process.pid}x${Date.now().toString(36)}`,
  stateFile?: string,
): Promise<{ name: string; endpoint: string; stop(): Promise<void>; kill(): Promise<void>; start(): Promise<void>; pid(): number }> {
  const state = stateFor(stateFile);
  const rec = await spawnGateway(state, name, await freePort());
  const opts = { gateway: name, stateFile: state.stateFile };
  return {
    name,
    endpoint: `http://127.0.0.1:${rec.port}`,
    stop: () => stopRgw(opts),
    kill: () => killRgw(opts),
    start: () => startRgw(opts),
    pid: () => rgwPid(opts),
  };
}
