// Entry point for startListener(..., { entry }) that runs the real listener inside its own
// mount namespace, on a small tmpfs mounted over TMPFS_DIR: a disk that fills up. Used by
// disk-full.test.ts; the tmpfs exists only inside that namespace and dies with it, and the
// test reads it through /proc/<pid>/root. Prints {"event":"tmpfs-listener","pid":N} (the
// listener's own PID) before the listener's log lines, and forwards SIGTERM/SIGINT to it.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const dir = process.env.TMPFS_DIR;
if (!dir) throw new Error('TMPFS_DIR is required');
const size = process.env.TMPFS_SIZE ?? '4m';
const child = spawn(
  'unshare',
  ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size="$1" tmpfs "$2" && exec "$3" listener/main.ts', 'sh', size, dir, process.execPath],
  { stdio: 'inherit' },
);
process.stdout.write(`${JSON.stringify({ event: 'tmpfs-listener', pid: child.pid, dir, size })}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal ? constants.signals[signal] : 1)));
