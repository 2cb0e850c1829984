// What the benchmark ran on, for the report.
import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { run } from '../../test/support/proc.ts';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memTotalGiB: number;
  kernel: string;
  node: string;
  dcmtk: string;
  ceph: string;
  workDirFilesystem: string;
  gitCommit: string;
  date: string;
}

async function firstLine(cmd: string, args: string[], pattern?: RegExp): Promise<string> {
  try {
    const r = await run(cmd, args, { timeoutMs: 10_000 });
    const lines = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter(Boolean);
    return (pattern ? lines.find((l) => pattern.test(l)) : lines[0]) ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function machineInfo(workDir: string, repo: string): Promise<MachineInfo> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  const df = await run('df', ['--output=fstype,source', workDir], { timeoutMs: 10_000 }).catch(() => undefined);
  const fs = df?.stdout.trim().split('\n')[1]?.trim().replace(/\s+/, ' on ') ?? 'unknown';
  return {
    nproc: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memTotalGiB: Math.round((memKb / 1024 / 1024) * 10) / 10,
    kernel: release(),
    node: process.version,
    dcmtk: (await firstLine('storescp', ['--version'], /dcmtk/i)).replace(/^\$|\$$/g, '').trim(),
    ceph: await firstLine('radosgw', ['--version'], /ceph version/),
    workDirFilesystem: fs,
    gitCommit: await firstLine('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']),
    date: new Date().toISOString(),
  };
}
