// CPU time and peak memory of a receiver process (and, for forking servers,
// its children), read from /proc.
//
// CPU: the sum over the process's threads of /proc/<pid>/task/<tid>/schedstat
// field 1 (nanoseconds on CPU, user + system). /proc/<pid>/stat utime+stime
// counts the same thing in 10 ms clock ticks: too coarse for a 0.3 s run of
// small instances, so it is recorded alongside as a cross-check only. Threads
// of a Node process (main, V8 platform workers, libuv pool) live as long as
// the process, so no exited thread's time is lost between the two readings.
//
// Children (storescp --fork): /proc/<pid>/task/<pid>/children is polled every
// 20 ms; each child's last-seen CPU (still readable while it is an unreaped
// zombie) and VmHWM are kept. A child's final < 20 ms may be missed if it is
// reaped between polls; storescp reaps lazily (on its next accept), so in
// practice the zombie's totals are read.
import { readdirSync, readFileSync } from 'node:fs';
import { peakRssOf } from '../../test/support/proc.ts';

const CLK_TCK = 100;

/** Whole-process CPU seconds from schedstat (ns precision); undefined once the process is gone. */
export function cpuSecondsPrecise(pid: number): number | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let ns = 0;
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    } catch {
      // thread exited between readdir and read
    }
  }
  return ns / 1e9;
}

/** CPU seconds per thread name (comm: "node" is the main thread, "libuv-worker" the fs/crypto pool, "V8 DefaultWorke" GC and compiler helpers). */
export function cpuSecondsByThread(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim();
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
      out.set(comm, (out.get(comm) ?? 0) + ns / 1e9);
    } catch {
      // thread exited between readdir and read
    }
  }
  return out;
}

/** utime+stime (all threads, excluding reaped children) in seconds, 10 ms resolution. */
export function cpuSecondsTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}


function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface MeterReading {
  /** CPU seconds used between start() and stop(), process plus children. */
  cpuSeconds: number;
  /** The same from utime+stime ticks (cross-check; 10 ms resolution). */
  cpuSecondsTicks: number;
  /** Largest VmHWM among the process and its children, bytes. */
  peakRssBytes: number;
  /** Number of children seen (forking servers). */
  children: number;
  /** The process's own CPU seconds by thread name (children not included). */
  byThread: Record<string, number>;
}

/** Measures one process (and optionally its children) over an interval. */
export class ProcMeter {
  readonly #pid: number;
  readonly #trackChildren: boolean;
  #cpu0 = 0;
  #ticks0 = 0;
  #threads0 = new Map<string, number>();
  #children = new Map<number, { cpu: number; ticks: number; hwm: number }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(pid: number, { trackChildren = false } = {}) {
    this.#pid = pid;
    this.#trackChildren = trackChildren;
  }

  start(): void {
    const cpu = cpuSecondsPrecise(this.#pid);
    const ticks = cpuSecondsTicks(this.#pid);
    if (cpu === undefined || ticks === undefined) throw new Error(`process ${this.#pid} is not running`);
    this.#cpu0 = cpu;
    this.#ticks0 = ticks;
    this.#threads0 = cpuSecondsByThread(this.#pid);
    if (this.#trackChildren) {
      // Children that already exist are not ours to count (storescp has none between associations).
      for (const c of childrenOf(this.#pid)) this.#children.set(c, { cpu: -1, ticks: -1, hwm: 0 });
      this.#timer = setInterval(() => this.#poll(), 20);
    }
  }

  #poll(): void {
    for (const c of childrenOf(this.#pid)) {
      const seen = this.#children.get(c) ?? { cpu: 0, ticks: 0, hwm: 0 };
      if (seen.cpu < 0) continue;
      seen.cpu = cpuSecondsPrecise(c) ?? seen.cpu;
      seen.ticks = cpuSecondsTicks(c) ?? seen.ticks;
      seen.hwm = Math.max(seen.hwm, peakRssOf(c) ?? 0);
      this.#children.set(c, seen);
    }
  }

  stop(): MeterReading {
    if (this.#timer) {
      this.#poll();
      clearInterval(this.#timer);
    }
    const cpu = cpuSecondsPrecise(this.#pid);
    const ticks = cpuSecondsTicks(this.#pid);
    const hwm = peakRssOf(this.#pid);
    if (cpu === undefined || ticks === undefined || hwm === undefined) throw new Error(`process ${this.#pid} exited before it was measured`);
    const kids = [...this.#children.values()].filter((c) => c.cpu >= 0);
    const byThread: Record<string, number> = {};
    for (const [name, secs] of cpuSecondsByThread(this.#pid)) byThread[name] = secs - (this.#threads0.get(name) ?? 0);
    return {
      byThread,
      cpuSeconds: cpu - this.#cpu0 + kids.reduce((s, c) => s + c.cpu, 0),
      cpuSecondsTicks: ticks - this.#ticks0 + kids.reduce((s, c) => s + c.ticks, 0),
      peakRssBytes: Math.max(hwm, ...kids.map((c) => c.hwm)),
      children: kids.length,
    };
  }
}
