// Runs the real listener (`node listener/main.ts`) as a child process, the
// way it runs in production, and exposes its JSON log lines and memory use.
//
// Contract with listener/main.ts: it logs one JSON object per stdout line
// and, once it accepts connections, logs
//   {"event":"listening","dicomPort":N,"tlsPort":M|null,"opsPort":K,...}
// Ports default to 0 (kernel-chosen) so parallel test files never collide.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peakRssOf } from './proc.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The container's own command (listener/Dockerfile CMD): node, its flags, the compiled entry.
 * Tests and benchmarks that measure memory or speed run exactly this, so they measure production.
 */
export function productionCommand(): { entry: string; nodeArgs: string[] } {
  const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(join(REPO_ROOT, 'listener', 'Dockerfile'), 'utf8'))?.[1];
  if (!cmd) throw new Error('listener/Dockerfile has no exec-form CMD');
  const argv = JSON.parse(cmd) as string[];
  return { entry: argv.at(-1)!, nodeArgs: argv.slice(1, -1) };
}

export type LogLine = Record<string, unknown>;

export interface ListenerOptions {
  /** Max wait for the "listening" line; default 30 s. */
  readyTimeoutMs?: number;
  /** Entry point relative to the repo root; default listener/main.ts. */
  entry?: string;
  /** Extra node CLI flags (e.g. --max-old-space-size=256). */
  nodeArgs?: string[];
  /** Do not inherit anything but the minimal base env (default true). */
  minimalEnv?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ListenerProcess {
  pid: number;
  /** DICOM port. */
  port: number;
  tlsPort: number | null;
  opsPort: number;
  /** Every stdout line that parsed as a JSON object, in order (live array). */
  logs: LogLine[];
  /** Every stdout line as text (live array), including non-JSON ones. */
  stdoutLines: string[];
  stderr(): string;
  /** Resolves when the process exits. */
  exited: Promise<ExitInfo>;
  /** Resolves with the first log line (already seen or future) matching `predicate`. */
  waitForLog(predicate: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` and waits for exit; SIGKILLs and throws if still running after `timeoutMs` (default 30 s). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitInfo>;
  /** SIGKILL and wait. */
  kill(): Promise<ExitInfo>;
  /** Peak RSS (VmHWM) in bytes; sampled while alive, so still valid after exit. */
  peakRssBytes(): number;
}

const live = new Set<ChildProcess>();
// A test that throws before stop() must not leave a listener behind in this worker.
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function baseListenerEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    DICOM_PORT: '0',
    OPS_PORT: '0',
    DICOM_HOST: '127.0.0.1',
  };
}

export function startListener(env: Record<string, string> = {}, opts: ListenerOptions = {}): Promise<ListenerProcess> {
  const childEnv = { ...(opts.minimalEnv === false ? process.env : {}), ...baseListenerEnv(), ...env };
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.entry ?? 'listener/main.ts'], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) return Promise.reject(new Error('failed to spawn the listener'));
  live.add(child);

  const logs: LogLine[] = [];
  const stdoutLines: string[] = [];
  const waiters = new Set<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let stderr = '';
  let partial = '';
  let peak = 0;
  const sample = () => {
    const v = peakRssOf(pid);
    if (v !== undefined && v > peak) peak = v;
  };
  const sampler = setInterval(sample, 200);
  sampler.unref();

  const onLine = (line: string) => {
    stdoutLines.push(line);
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return;
    const l = parsed as LogLine;
    logs.push(l);
    for (const w of waiters) {
      if (w.pred(l)) {
        waiters.delete(w);
        w.resolve(l);
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) if (p.trim()) onLine(p);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));

  const exited = new Promise<ExitInfo>((resolve) => {
    // Sample VmHWM once more at exit time is impossible (the /proc entry is
    // gone); the 200 ms sampler plus a sample on every stop() covers it.
    child.on('exit', (code, signal) => {
      clearInterval(sampler);
      live.delete(child);
      if (partial.trim()) onLine(partial);
      resolve({ code, signal });
    });
  });

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 30_000) => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const w = {
        pred,
        resolve: (l: LogLine) => {
          clearTimeout(t);
          resolve(l);
        },
      };
      const t = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`listener: no matching log line within ${timeoutMs} ms; last lines:\n${stdoutLines.slice(-20).join('\n')}\nstderr:\n${stderr.slice(-4000)}`));
      }, timeoutMs);
      waiters.add(w);
    });
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<ExitInfo> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    sample();
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`listener pid ${pid} did not exit within ${timeoutMs} ms of ${signal}; SIGKILLed. stderr:\n${stderr.slice(-4000)}`);
    }
    return r;
  };

  return new Promise<ListenerProcess>((resolve, reject) => {
    const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`listener failed to start: ${why}\nstdout:\n${stdoutLines.slice(-20).join('\n')}\nstderr:\n${stderr.slice(-8000)}`));
    };
    const timer = setTimeout(() => fail(`no "listening" log line within ${readyTimeoutMs} ms`), readyTimeoutMs);
    void exited.then(({ code, signal }) => fail(`exited before listening (code ${code}, signal ${signal})`));
    waitForLog((l) => l.event === 'listening', readyTimeoutMs + 1_000).then(
      (l) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          pid,
          port: Number(l.dicomPort),
          tlsPort: l.tlsPort === null || l.tlsPort === undefined ? null : Number(l.tlsPort),
          opsPort: Number(l.opsPort),
          logs,
          stdoutLines,
          stderr: () => stderr,
          exited,
          waitForLog,
          stop,
          kill: () => stop('SIGKILL'),
          peakRssBytes: () => {
            sample();
            return peak;
          },
        });
      },
      () => {},
    );
  });
}
