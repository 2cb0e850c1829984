// The shape of bench results (results.json), shared by the harness, the
// report writer and the smoke test.
import type { MachineInfo } from './machine.ts';
import type { Spread } from './stats.ts';

export const CONTENDERS = ['listener-file', 'storescp', 'storescp-B', 'storescp-fork', 'listener-s3', 's3-ceiling'] as const;
export type ContenderId = (typeof CONTENDERS)[number];

export const WORKLOADS = ['small', 'ct', 'ct-jpeg', 'mf150', 'conc1', 'conc4', 'conc16', 'mf2g'] as const;
export type WorkloadId = (typeof WORKLOADS)[number];

export const CONTENDER_LABELS: Record<ContenderId, string> = {
  'listener-file': 'listener → local folder',
  storescp: 'dcmtk storescp (default)',
  'storescp-B': 'dcmtk storescp +B (bit-preserving)',
  'storescp-fork': 'dcmtk storescp --fork',
  'listener-s3': 'listener → S3 (Ceph RGW)',
  's3-ceiling': 'S3 ceiling (AWS SDK PUT from disk)',
};

/** The per-run figures; every one is measured (see docs/benchmarks.md "Method"). */
export const METRICS = ['instancesPerSecond', 'mbPerSecond', 'cpuSecondsPerGb', 'peakRssMb', 'latencyP50Ms', 'latencyP99Ms'] as const;
export type MetricId = (typeof METRICS)[number];

export interface RunRecord {
  block: number;
  workload: WorkloadId;
  contender: ContenderId;
  rep: number;
  /** Position in the whole run's sequence (interleaving evidence). */
  sequence: number;
  /** bench/ab.ts only: which listener build ran. */
  variant?: string;
  ok: boolean;
  error?: string;
  instances: number;
  bytes: number;
  seconds: number;
  instancesPerSecond: number;
  mbPerSecond: number;
  cpuSeconds: number;
  /** utime+stime cross-check (10 ms ticks). */
  cpuSecondsTicks: number;
  cpuSecondsPerGb: number;
  peakRssMb: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** The receiver's CPU seconds by thread name (main thread "node", "libuv-worker", "V8 DefaultWorke", ...). */
  cpuByThread?: Record<string, number>;
  /** radosgw + ceph-osd CPU seconds during the run (S3 contenders only). */
  storageCpuSeconds?: number;
}

export interface Summary {
  workload: WorkloadId;
  contender: ContenderId;
  runs: number;
  metrics: Record<MetricId, Spread>;
  /** Median CPU seconds per instance, for the cost model. */
  cpuSecondsPerInstance: number;
}

export interface Ratio {
  id: string;
  description: string;
  workload: WorkloadId;
  numerator: ContenderId;
  denominator: ContenderId | WorkloadId;
  /** Median of per-repetition paired ratios (same repetition = adjacent in time), with min–max. */
  value: Spread;
}

export interface Target {
  description: string;
  /** Median measured value the target is judged on. */
  value: number;
  threshold: number;
  comparison: '>=' | '<=';
  unit: string;
  met: boolean;
}

export interface WorkloadInfo {
  id: WorkloadId;
  label: string;
  corpus: string;
  lanes: number;
  reps: number;
  contenders: ContenderId[];
  memoryOnly: boolean;
}

export interface BenchResults {
  mode: 'full' | 'smoke' | 'partial';
  machine: MachineInfo;
  settings: Record<string, string | number>;
  workloads: WorkloadInfo[];
  runs: RunRecord[];
  summaries: Summary[];
  ratios: Ratio[];
  targets: Target[];
  durationSeconds: number;
}
