import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { startTelemetry } from './telemetry.ts';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`configuration error: ${error.message}\n`);
  process.exit(2);
}

const log = createLogger(config.logLevel);
// The AWS SDK instrumentation patches the SDK as it loads, so tracing starts before the
// listener (and with it @aws-sdk/client-s3) is imported.
const telemetry = await startTelemetry();
const { startListener } = await import('./listener.ts');

// Handlers go in before the listener starts: a SIGTERM during start-up exits 0 (nothing is in
// flight yet) instead of killing node mid-way.
let stopping = false;
let listener: Awaited<ReturnType<typeof startListener>> | undefined;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info('signal', { signal });
  if (!listener) process.exit(0);
  listener.drain()
    // Flushes the last spans; an unreachable collector must not turn a clean drain into a failure.
    .then(() => telemetry?.shutdown().catch(() => undefined))
    .then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('drain-failed', { message: (error as Error).message });
        process.exit(1);
      },
    );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('unhandledRejection', (reason) => {
  // A rejected promise must never take every association down with it.
  log.error('unhandled-rejection', { message: reason instanceof Error ? reason.message : String(reason) });
});

listener = await startListener(config, log);
