import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { loadEnvironments } from '../../charts/load-environments.ts';
import { exampleEnvironment } from './fixtures.ts';

let dir: string;
beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'environments-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const write = (file: string, content: unknown) => writeFileSync(path.join(dir, file), typeof content === 'string' ? content : JSON.stringify(content));

describe('loadEnvironments', () => {
  test('returns every environment sorted by name', () => {
    // GIVEN two environment files written out of order
    write('zulu.json', exampleEnvironment({ name: 'zulu' }));
    write('alpha.json', exampleEnvironment({ name: 'alpha' }));
    // WHEN loaded THEN they come back in name order
    expect(loadEnvironments(dir).map((environment) => environment.name)).toEqual(['alpha', 'zulu']);
  });

  test('rejects a file whose name differs from the environment it holds', () => {
    write('prod.json', exampleEnvironment({ name: 'staging' }));
    expect(() => loadEnvironments(dir)).toThrow(/prod\.json: name "staging" must match the file name/);
  });

  test('names the file of an invalid environment', () => {
    write('prod.json', { ...exampleEnvironment({ name: 'prod' }), bucket: 'Bad_Bucket' });
    expect(() => loadEnvironments(dir)).toThrow(/prod\.json: invalid environment config: bucket must be an S3 bucket name/);
  });

  test('names a file that is not JSON', () => {
    write('prod.json', '{ "name": ');
    expect(() => loadEnvironments(dir)).toThrow(/prod\.json: not valid JSON/);
  });

  test('refuses an empty folder rather than render nothing', () => {
    expect(() => loadEnvironments(dir)).toThrow(/no environment config/);
  });
});
