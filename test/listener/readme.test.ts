import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { LISTENER_ENV } from '../../listener/config.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function configurationTable(): { name: string; default: string }[] {
  const block = /<!-- configuration-table[^>]*-->([\s\S]*?)<!-- \/configuration-table -->/.exec(readme)?.[1] ?? '';
  return block
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [, name, value] = line.split('|').map((cell) => cell.trim());
      return { name: name!.replaceAll('`', ''), default: value!.replaceAll('`', '') };
    });
}

describe('README', () => {
  test('the configuration table lists exactly the variables the listener reads, with their defaults', () => {
    expect(configurationTable()).toEqual(LISTENER_ENV.map((v) => ({ name: v.name, default: v.default })));
  });

  test('shows the two set-up commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
  });
});
