import type { LogLevel } from './config.ts';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

/**
 * Structured JSON lines on stdout. Callers pass only transfer facts (AE titles, UIDs of
 * classes and syntaxes, keys, sizes, statuses): never values read from a data set's patient
 * or study demographics, so no PHI can reach a log.
 */
export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const threshold = RANK[level];
  const emit = (at: LogLevel, event: string, fields?: LogFields): void => {
    if (RANK[at] < threshold) return;
    try {
      write(`${JSON.stringify({ time: new Date().toISOString(), level: at, event, ...fields })}\n`);
    } catch {
      // An observer never breaks a transfer, even when stdout is gone.
    }
  };
  return {
    debug: (event, fields) => emit('debug', event, fields),
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields) => emit('error', event, fields),
  };
}
