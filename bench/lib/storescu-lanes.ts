// The DICOM sender: dcmtk's storescu, one process per association ("lane"),
// all lanes started together. Every contender that speaks DICOM is fed by the
// same storescu invocations, so sender cost is identical across them.
//
// Timing comes from storescu's own log with microsecond timestamps (a
// log4cplus config, below), not from process wall time, so storescu's start-up
// and file pre-scan are excluded:
//   latency of one C-STORE = "Sending Store Request" -> "Received Store Response"
//     (after storescu has loaded the file, so it is wire + receiver + response);
//   the run's window      = first "Sending file" of any lane -> last response.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dcmtkEnv, proposeFlagFor } from '../../test/support/dcmtk.ts';
import { requirePeer } from '../../test/support/peers.ts';
import { run } from '../../test/support/proc.ts';
import type { CorpusFile } from './corpus.ts';

export interface SendResult {
  instances: number;
  bytes: number;
  /** Epoch ms of the first "Sending file" across lanes. */
  startMs: number;
  /** Epoch ms of the last store response across lanes. */
  endMs: number;
  latenciesMs: number[];
  /** Anything that was not a Success response, with the lane's stderr tail. */
  failures: string[];
}

/** log4cplus config: INFO lines with UTC microsecond timestamps on stderr (stdout gets the XMIT progress dots). */
export function writeLogConfig(dir: string): string {
  const path = join(dir, 'storescu-log.cfg');
  writeFileSync(path, [
    'log4cplus.rootLogger = INFO, console',
    'log4cplus.appender.console = log4cplus::ConsoleAppender',
    'log4cplus.appender.console.logToStdErr = true',
    'log4cplus.appender.console.layout = log4cplus::PatternLayout',
    'log4cplus.appender.console.layout.ConversionPattern = %d{%Y-%m-%dT%H:%M:%S.%Q} %p: %m%n',
    '',
  ].join('\n'));
  return path;
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})\.(\d{3}) (\w+): (.*)$/;

function epochMs(date: string, ms: string, us: string): number {
  return Date.parse(`${date}.${ms}Z`) + Number(us) / 1000;
}

interface LaneLog {
  firstSendMs: number | undefined;
  lastResponseMs: number | undefined;
  latenciesMs: number[];
  responses: number;
  failures: string[];
}

export function parseLaneLog(stderr: string): LaneLog {
  const out: LaneLog = { firstSendMs: undefined, lastResponseMs: undefined, latenciesMs: [], responses: 0, failures: [] };
  let requestAt: number | undefined;
  for (const raw of stderr.split('\n')) {
    const m = LINE.exec(raw.trimEnd());
    if (!m) continue;
    const t = epochMs(m[1]!, m[2]!, m[3]!);
    const text = m[5]!;
    if (text.startsWith('Sending file:')) out.firstSendMs ??= t;
    else if (text.startsWith('Sending Store Request')) requestAt = t;
    else if (text.startsWith('Received Store Response')) {
      out.responses += 1;
      out.lastResponseMs = t;
      if (requestAt !== undefined) out.latenciesMs.push(t - requestAt);
      requestAt = undefined;
      if (text !== 'Received Store Response (Success)') out.failures.push(text);
    } else if (m[4] === 'ERROR' || m[4] === 'FATAL') out.failures.push(text);
  }
  return out;
}

export interface LaneOptions {
  port: number;
  calledAe: string;
  files: readonly CorpusFile[];
  lanes: number;
  logConfig: string;
  timeoutMs: number;
}

/** Splits `files` round-robin over `lanes` storescu processes started together; resolves when all have exited. */
export async function sendLanes(opts: LaneOptions): Promise<SendResult> {
  const ts = opts.files[0]?.transferSyntaxUid;
  if (!ts || opts.files.some((f) => f.transferSyntaxUid !== ts)) throw new Error('sendLanes: files must share one transfer syntax');
  const flag = proposeFlagFor(ts);
  const split: CorpusFile[][] = Array.from({ length: opts.lanes }, () => []);
  opts.files.forEach((f, i) => split[i % opts.lanes]!.push(f));
  const storescu = requirePeer('storescu');
  const results = await Promise.all(split.filter((l) => l.length > 0).map(async (lane) => {
    const args = ['--log-config', opts.logConfig, '-R', ...(flag ? [flag] : []), '-aet', 'BENCHSCU', '-aec', opts.calledAe, '127.0.0.1', String(opts.port), ...lane.map((f) => f.path)];
    const r = await run(storescu, args, { env: dcmtkEnv(), timeoutMs: opts.timeoutMs });
    const log = parseLaneLog(r.stderr);
    if (r.code !== 0) log.failures.push(`storescu exited with code ${r.code} signal ${r.signal}: ${r.stderr.split('\n').slice(-5).join(' | ')}`);
    if (log.responses !== lane.length) log.failures.push(`storescu got ${log.responses} responses for ${lane.length} files`);
    return log;
  }));
  const starts = results.map((r) => r.firstSendMs).filter((v): v is number => v !== undefined);
  const ends = results.map((r) => r.lastResponseMs).filter((v): v is number => v !== undefined);
  return {
    instances: opts.files.length,
    bytes: opts.files.reduce((s, f) => s + f.bytes, 0),
    startMs: Math.min(...starts),
    endMs: Math.max(...ends),
    latenciesMs: results.flatMap((r) => r.latenciesMs),
    failures: results.flatMap((r) => r.failures),
  };
}
