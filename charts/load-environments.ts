import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type EnvironmentConfig, validateEnvironment } from './environment.ts';

/** Reads and validates every `<name>.json` in `dir`, sorted by name so synthesis is stable. */
export function loadEnvironments(dir: string): EnvironmentConfig[] {
  const files = readdirSync(dir).filter((file) => file.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`no environment config (*.json) in ${dir}`);
  return files.map((file) => {
    const where = path.join(dir, file);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(where, 'utf8'));
    } catch (error) {
      throw new Error(`${where}: not valid JSON: ${(error as Error).message}`);
    }
    let environment: EnvironmentConfig;
    try {
      environment = validateEnvironment(parsed);
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).message}`);
    }
    if (`${environment.name}.json` !== file) {
      throw new Error(`${where}: name "${environment.name}" must match the file name`);
    }
    return environment;
  });
}
