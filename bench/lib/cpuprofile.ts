// Summaries of V8 .cpuprofile files (node --cpu-prof): where the busy time goes.
//
// Self time per sample is its time delta, not a fixed interval. "Busy" is
// everything except (idle); (program) is native time V8 cannot attribute to
// JavaScript (mostly libuv/syscalls on the main thread), (garbage collector)
// is GC on the main thread.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Row {
  name: string;
  ms: number;
  /** Share of busy (non-idle) time, 0..1. */
  share: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  busyMs: number;
  idleMs: number;
  categories: Row[];
  topSelf: Row[];
  topInclusive: Row[];
}

/** Which part of the process a frame belongs to. */
export function category(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(program)') return 'native (program)';
    if (functionName === '(idle)') return 'idle';
    return `native: ${functionName || '(anonymous)'}`;
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) {
    const pkg = nm[1]!;
    if (pkg.startsWith('@aws-sdk/') || pkg.startsWith('@smithy/') || pkg.startsWith('@aws-crypto/')) return 'AWS SDK';
    if (pkg.startsWith('@opentelemetry/')) return 'OpenTelemetry';
    return pkg;
  }
  const listener = /\/(?:dist\/)?listener\/(.*)\.[jt]s$/.exec(url);
  if (listener) return `listener/${listener[1]}`;
  if (url.startsWith('node:')) {
    const mod = url.slice(5).replace(/^internal\//, '');
    if (mod.startsWith('streams/') || mod === 'stream') return 'node: streams';
    if (mod.startsWith('fs/') || mod === 'fs') return 'node: fs';
    if (mod === 'net' || mod.startsWith('stream_base_commons')) return 'node: net';
    if (mod.startsWith('http') || mod === '_http_client' || mod === '_http_outgoing' || mod === '_http_common' || mod === '_http_incoming' || mod === '_http_agent') return 'node: http';
    if (mod.startsWith('crypto/') || mod === 'crypto') return 'node: crypto';
    if (mod === 'events' || mod.startsWith('event_target')) return 'node: events';
    if (mod.startsWith('process/') || mod.startsWith('timers')) return 'node: timers & microtasks';
    return `node: ${mod.split('/')[0]}`;
  }
  return url.replace(/^file:\/\//, '');
}

function frameKey(f: CallFrame): string {
  const where = f.url ? `${f.url.replace(/^file:\/\/.*node_modules\//, '').replace(/^file:\/\/.*\/(listener\/)/, '$1')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

function rows(map: Map<string, number>, busy: number, limit: number): Row[] {
  return [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([name, us]) => ({ name, ms: us / 1000, share: us / busy }));
}

/** Frames that mean "handling DICOM or S3 traffic": the steady-state window starts and ends with them. */
const WORK = /node_modules\/(dcmjs-dimse|@aws-sdk|@smithy)\//;

/** An idle pause at least this long, early on, is the gap between warm-up and measurement. */
const WARM_UP_GAP_US = 20_000;

/**
 * Every run sends one warm-up instance on its own association before the measured sender
 * starts; what it pays once (lazy module loads, dictionaries built on first use) is not
 * steady state. Returns the first work sample after the longest idle pause between work
 * samples in the first half of the window.
 */
function afterWarmUp(p: CpuProfile, first: number, last: number, isWork: (id: number) => boolean, isIdle: (id: number) => boolean): number {
  let t = 0;
  const at = p.timeDeltas.map((dt) => (t += dt));
  const half = (at[first]! + at[last]!) / 2;
  let start = first;
  let longest = 0;
  let idle = 0;
  for (let i = first + 1; i <= last && at[i]! <= half; i++) {
    const id = p.samples[i]!;
    if (isIdle(id)) idle += p.timeDeltas[i] ?? 0;
    if (!isWork(id)) continue;
    if (idle > longest) {
      longest = idle;
      start = i;
    }
    idle = 0;
  }
  return longest >= WARM_UP_GAP_US ? start : first;
}

/**
 * Summarizes `file`. With `steadyState`, only samples between the first one
 * whose stack holds a dcmjs-dimse or AWS SDK frame after the warm-up instance
 * and the last such sample count: module loading, start-up and the warm-up
 * before, and shutdown after the last response, are left out.
 */
export function summarizeProfile(file: string, limit = 25, steadyState = true): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  let first = 0;
  let last = p.samples.length - 1;
  if (steadyState) {
    const working = new Map<number, boolean>();
    const isWork = (id: number): boolean => {
      const known = working.get(id);
      if (known !== undefined) return known;
      const node = byId.get(id);
      const parentId = parent.get(id);
      const v = node ? WORK.test(node.callFrame.url) || (parentId !== undefined && isWork(parentId)) : false;
      working.set(id, v);
      return v;
    };
    first = p.samples.findIndex((id) => isWork(id));
    last = p.samples.findLastIndex((id) => isWork(id));
    if (first < 0) {
      first = 0;
      last = p.samples.length - 1;
    } else {
      first = afterWarmUp(p, first, last, isWork, (id) => byId.get(id)?.callFrame.functionName === '(idle)');
    }
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const categories = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (let i = first; i <= last; i++) {
    // timeDeltas[i] is the time since the previous sample: the span this sample stands for.
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const node = byId.get(p.samples[i]!);
    if (!node) continue;
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    self.set(frameKey(node.callFrame), (self.get(frameKey(node.callFrame)) ?? 0) + dt);
    const cat = category(node.callFrame);
    categories.set(cat, (categories.get(cat) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (f.functionName === '(root)') break;
      const k = frameKey(f);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
  const busy = total - idle;
  return {
    file,
    wallMs: total / 1000,
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    categories: rows(categories, busy, 40),
    topSelf: rows(self, busy, limit),
    topInclusive: rows(inclusive, busy, limit),
  };
}

export function formatSummary(s: ProfileSummary): string {
  const pct = (r: Row) => `${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(6)} ms  ${r.name}`;
  return [
    `${s.file}: wall ${s.wallMs.toFixed(0)} ms, busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms`,
    '-- by category (self time, share of busy) --',
    ...s.categories.map(pct),
    '-- top functions by self time --',
    ...s.topSelf.map(pct),
    '-- top functions by inclusive time --',
    ...s.topInclusive.map(pct),
  ].join('\n');
}

// CLI: node bench/lib/cpuprofile.ts FILE.cpuprofile [limit]
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const f of process.argv.slice(2).filter((a) => a.endsWith('.cpuprofile'))) {
    console.log(formatSummary(summarizeProfile(f, Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 30))));
  }
}
