// Wrappers around Debian's dcmtk 3.6.7 command-line tools.
//
// TCP_NODELAY=1 is always set: dcmtk leaves Nagle on otherwise, and every
// C-STORE then costs ~45 ms of delayed-ACK stall (dcmjs-dimse.md §3.7).
//
// storescu status parsing (verified against dcmtk 3.6.7 by running it):
//   I: Sending file: <path as given>
//   -v: I: Received Store Response (Success)
//       I: Received Store Response (Warning: CoercionOfDataElements)
//       I: Received Store Response (Refused: OutOfResources)      <- any 0xA7xx
//       I: Received Store Response (Unknown Status: 0x110)
//   -d: I: Received Store Response
//       D: DIMSE Status                  : 0xa700: Refused: Out of resources
//   send failure: E: Store Failed, file: <path>:  /  E: 0006:020e DIMSE Failed to send message
// The -v wording is ambiguous (all 0xA7xx print the same text), so the
// wrapper runs storescu with -d and reads the exact hex status.
// Exit code: by default storescu halts at the first failed store and exits
// with (status >> 8) (e.g. 167 for 0xA700); with noHalt it continues and
// exits 0 even when stores failed, so always check `files[i].status`.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readMeta, TransferSyntax } from './dicom-file.ts';
import { assertIsolatedNetwork } from './isolation.ts';
import { requirePeer } from './peers.ts';
import { freePort, isAlive, isListening, run, stopPid, tailFile, waitFor } from './proc.ts';

export function dcmtkEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TCP_NODELAY: '1' };
}

export interface TlsOptions {
  /** Client private key + certificate (PEM) for mutual TLS (`+tls key cert`). Omit both for anonymous TLS (`+tla`). */
  key?: string;
  cert?: string;
  /** CA certificate files trusted for the peer (`+cf`). */
  ca?: string[];
  /** Do not verify the peer certificate (`-ic`). */
  ignorePeerCert?: boolean;
}

export interface ScuOptions {
  /** Calling AE title (-aet); default TESTSCU. */
  aet?: string;
  /** Called AE title (-aec); default ANY-SCP. */
  aec?: string;
  tls?: TlsOptions;
  extraArgs?: string[];
  /** Kill the tool after this long (it would otherwise wait on a silent peer); default 110 s. */
  timeoutMs?: number;
}

export interface ToolResult {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function tlsArgs(tls: TlsOptions | undefined): string[] {
  if (!tls) return [];
  const a = tls.key && tls.cert ? ['+tls', tls.key, tls.cert] : ['+tla'];
  for (const ca of tls.ca ?? []) a.push('+cf', ca);
  if (tls.ignorePeerCert) a.push('-ic');
  return a;
}

function scuArgs(opts: ScuOptions): string[] {
  return ['-aet', opts.aet ?? 'TESTSCU', '-aec', opts.aec ?? 'ANY-SCP', ...tlsArgs(opts.tls), ...(opts.extraArgs ?? [])];
}

// ---------------------------------------------------------------------------
// echoscu

export interface EchoResult extends ToolResult {
  /** Exit code 0 and "Received Echo Response (Success)". */
  ok: boolean;
}

export async function echoscu(host: string, port: number, opts: ScuOptions = {}): Promise<EchoResult> {
  const args = ['-v', ...scuArgs(opts), host, String(port)];
  const r = await run(requirePeer('echoscu'), args, { env: dcmtkEnv(), timeoutMs: opts.timeoutMs ?? 110_000 });
  const out = r.stdout + r.stderr;
  return { args, ...r, ok: r.code === 0 && /Received Echo Response \(Success\)/.test(out) };
}

// ---------------------------------------------------------------------------
// storescu

/**
 * storescu flag proposing `ts` (plus the uncompressed ones, except -xi which
 * proposes implicit VR only); undefined = default (-x=, all uncompressed,
 * explicit VR LE first). storescu converts between native encodings when
 * the SCP accepts another one; which one is accepted is the SCP's choice
 * (storescp +xa prefers explicit VR LE, so a BE file arrives as LE there
 * unless storescp runs with +xb).
 */
const PROPOSE_FLAG: Record<string, string | undefined> = {
  [TransferSyntax.ImplicitVRLittleEndian]: '-xi',
  [TransferSyntax.ExplicitVRLittleEndian]: undefined,
  [TransferSyntax.ExplicitVRBigEndian]: '-xb',
  [TransferSyntax.DeflatedExplicitVRLittleEndian]: '-xd',
  [TransferSyntax.JpegBaseline]: '-xy',
  '1.2.840.10008.1.2.4.51': '-xx',
  [TransferSyntax.JpegLosslessSV1]: '-xs',
  [TransferSyntax.JpegLsLossless]: '-xt',
  '1.2.840.10008.1.2.4.81': '-xu',
  [TransferSyntax.Jpeg2000Lossless]: '-xv',
  [TransferSyntax.Jpeg2000]: '-xw',
  [TransferSyntax.Mpeg2MainProfile]: '-xm',
  '1.2.840.10008.1.2.4.101': '-xh',
  [TransferSyntax.Mpeg4HighProfile]: '-xn',
  '1.2.840.10008.1.2.4.103': '-xl',
  '1.2.840.10008.1.2.4.104': '-x2',
  '1.2.840.10008.1.2.4.105': '-x3',
  '1.2.840.10008.1.2.4.106': '-xo',
  [TransferSyntax.HevcMainProfile]: '-x4',
  '1.2.840.10008.1.2.4.108': '-x5',
  [TransferSyntax.Rle]: '-xr',
};

/** Native encodings storescu can convert between; the others it can only send as they are. */
const NATIVE_TS = new Set<string>([TransferSyntax.ImplicitVRLittleEndian, TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ExplicitVRBigEndian]);

/**
 * The storescu option that makes it propose `transferSyntaxUid`. storescu
 * cannot transcode compressed data, so a compressed file needs a context
 * with exactly its TS, and storescu proposes one compressed TS per run.
 * Throws for TSs dcmtk 3.6.7 does not know (HTJ2K .201-.203): it cannot
 * send those at all.
 */
export function proposeFlagFor(transferSyntaxUid: string): string | undefined {
  if (!(transferSyntaxUid in PROPOSE_FLAG)) {
    throw new Error(`storescu (dcmtk 3.6.7) cannot send transfer syntax ${transferSyntaxUid}: it does not know it`);
  }
  return PROPOSE_FLAG[transferSyntaxUid];
}

/**
 * The one proposal flag for a batch: the files' own TS when they all share
 * one; otherwise the flag of the single non-native TS among them (native
 * files are then converted as the SCP chooses). Throws when the files need
 * two different non-native TSs.
 */
export async function proposeFlagForFiles(files: string[]): Promise<string | undefined> {
  const tss = new Set<string>();
  for (const f of files) tss.add((await readMeta(f)).transferSyntaxUid);
  if (tss.size === 1) return proposeFlagFor([...tss][0] ?? '');
  const hard = new Set([...tss].filter((ts) => !NATIVE_TS.has(ts)).map((ts) => proposeFlagFor(ts)));
  if (hard.size > 1) throw new Error(`storescu: files need different proposals (${[...hard].join(', ')}); send them in separate calls`);
  return [...hard][0];
}

export interface StoreFileResult {
  file: string;
  /** storescu got as far as sending it. */
  sent: boolean;
  /** DIMSE status of the C-STORE response (0 = Success), or null when none was received. */
  status: number | null;
  /** dcmtk's text for the status, or the error dcmtk printed. */
  statusText: string;
  ok: boolean;
  /** 0x0001 or 0xBxxx: stored with a warning. */
  warning: boolean;
}

export interface StoreResult extends ToolResult {
  files: StoreFileResult[];
  /** Every file got status 0x0000. */
  allSucceeded: boolean;
}

/** Parses `storescu -d`/`-v` output into one entry per input file (in input order). */
export function parseStoreOutput(output: string, files: string[]): StoreFileResult[] {
  const byFile = new Map<string, StoreFileResult>();
  let current: StoreFileResult | undefined;
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    let m: RegExpExecArray | null;
    if ((m = /^I: Sending file: (.*)$/.exec(line))) {
      current = { file: m[1] ?? '', sent: true, status: null, statusText: '', ok: false, warning: false };
      byFile.set(current.file, current);
    } else if (current && (m = /^I: Received Store Response(?: \((.*)\))?$/.exec(line))) {
      current.statusText = m[1] ?? '';
      if (m[1] === 'Success') current.status = 0;
      const hex = m[1] && /Unknown Status: 0x([0-9a-f]+)/i.exec(m[1]);
      if (hex && hex[1]) current.status = parseInt(hex[1], 16);
    } else if (current && (m = /^D: DIMSE Status\s*: 0x([0-9a-fA-F]{4}): ?(.*)$/.exec(line))) {
      current.status = parseInt(m[1] ?? '', 16);
      current.statusText = m[2] ?? '';
    } else if (current && /^E: /.test(line) && current.status === null) {
      current.statusText = [current.statusText, line.slice(3)].filter(Boolean).join(' | ');
    }
  }
  return files.map((file) => {
    const r = byFile.get(file) ?? { file, sent: false, status: null, statusText: 'not sent', ok: false, warning: false };
    const s = r.status;
    return { ...r, file, ok: s === 0, warning: s === 0x0001 || (s !== null && s >= 0xb000 && s <= 0xbfff) };
  });
}

export interface StorescuOptions extends ScuOptions {
  /**
   * Transfer syntax to propose: a TS UID, a raw storescu flag ("-xs"), or
   * "auto" (default) = derived from the files' meta headers.
   */
  proposeTs?: string;
  /** Continue after a failed store (-nh). Default false = storescu's default (halt). */
  noHalt?: boolean;
  /**
   * Propose only the SOP classes of the files (-R), as most modalities do.
   * Default true: without it storescu proposes ~120 contexts, and with a
   * compressed proposal (two contexts per class) the files' own SOP class
   * can fall beyond the 128-context limit (seen with Video Photographic +
   * MPEG-2: "No presentation context for: (VVp)"). Set false to test an SCP
   * against a large proposal.
   */
  requiredContextsOnly?: boolean;
}

/** Sends `files` over one association with storescu and reports a status per file. */
export async function storescu(host: string, port: number, files: string[], opts: StorescuOptions = {}): Promise<StoreResult> {
  const p = opts.proposeTs ?? 'auto';
  const flag = p === 'auto' ? await proposeFlagForFiles(files) : p.startsWith('-') ? p : proposeFlagFor(p);
  const args = [
    '-d',
    ...(opts.requiredContextsOnly === false ? [] : ['-R']),
    ...(flag ? [flag] : []),
    ...(opts.noHalt ? ['-nh'] : []),
    ...scuArgs(opts),
    host,
    String(port),
    ...files,
  ];
  const r = await run(requirePeer('storescu'), args, { env: dcmtkEnv(), timeoutMs: opts.timeoutMs ?? 110_000 });
  const parsed = parseStoreOutput(`${r.stdout}\n${r.stderr}`, files);
  return { args, ...r, files: parsed, allSucceeded: r.code === 0 && parsed.every((f) => f.ok) };
}

// ---------------------------------------------------------------------------
// File tools

/** dcmftest: true when the file is a DICOM Part 10 file. */
export async function dcmftest(path: string): Promise<boolean> {
  const r = await run(requirePeer('dcmftest'), [path]);
  return r.code === 0 && r.stdout.startsWith('yes:');
}

/** dcmdump text of a file; throws when dcmdump fails to parse it. */
export async function dcmdump(path: string, extraArgs: string[] = []): Promise<string> {
  const r = await run(requirePeer('dcmdump'), [...extraArgs, path]);
  if (r.code !== 0) throw new Error(`dcmdump ${path} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Runs a dcmtk converter (dcmconv, dcmcjpeg, ...) and throws on failure. */
export async function dcmtkConvert(tool: string, args: string[]): Promise<void> {
  const r = await run(requirePeer(tool), args);
  if (r.code !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
}

// ---------------------------------------------------------------------------
// storescp

export interface StorescpOptions {
  /** AE title (--aetitle); storescp accepts any called AE unless told otherwise. Default STORESCP. */
  aet?: string;
  /** Accept every TS dcmtk knows (+xa); default true. */
  acceptAll?: boolean;
  /** Accept unknown SOP classes (-pm); default true. */
  promiscuous?: boolean;
  /** Write received data sets exactly as received (+B); default false (dcmtk re-encodes). */
  bitPreserving?: boolean;
  extraArgs?: string[];
}

export interface ReceivedFile {
  path: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
}

export interface StorescpHandle {
  pid: number;
  port: number;
  dir: string;
  logFile: string;
  /** Files written so far, with their meta. */
  received(): Promise<ReceivedFile[]>;
  stop(): Promise<void>;
}

/**
 * Starts dcmtk's storescp writing to `dir`. storescp listens on all
 * interfaces (no bind option in 3.6.7), so it refuses to start unless the
 * network is isolated. `port` 0 picks a free port.
 */
export async function startStorescp(port: number, dir: string, opts: StorescpOptions = {}): Promise<StorescpHandle> {
  assertIsolatedNetwork('storescp');
  const bin = requirePeer('storescp');
  const p = port || (await freePort());
  const args = [
    '-v',
    '--aetitle', opts.aet ?? 'STORESCP',
    ...(opts.acceptAll === false ? [] : ['+xa']),
    ...(opts.promiscuous === false ? [] : ['-pm']),
    ...(opts.bitPreserving ? ['+B'] : []),
    '-od', dir,
    ...(opts.extraArgs ?? []),
    String(p),
  ];
  // Next to, not inside, `dir`: received() reads every file in `dir` as DICOM.
  const logFile = `${dir.replace(/\/+$/, '')}.storescp-${p}.log`;
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { env: dcmtkEnv(), stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new Error('failed to spawn storescp');
  child.on('error', () => {});
  await waitFor(`storescp to listen on ${p}`, () => isListening(p), {
    timeoutMs: 30_000,
    intervalMs: 20,
    abortIf: () => (isAlive(pid) ? undefined : `storescp exited:\n${tailFile(logFile)}`),
  });
  return {
    pid,
    port: p,
    dir,
    logFile,
    async received() {
      const out: ReceivedFile[] = [];
      for (const name of (await readdir(dir)).sort()) {
        const path = join(dir, name);
        const meta = await readMeta(path);
        out.push({ path, sopInstanceUid: meta.mediaStorageSopInstanceUid, transferSyntaxUid: meta.transferSyntaxUid });
      }
      return out;
    },
    stop: () => stopPid(pid, 'SIGTERM', 5_000),
  };
}
