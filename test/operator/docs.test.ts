import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import type { IJSONSchemaProps } from 'kubernetes-models/apiextensions.k8s.io/v1/JSONSchemaProps';
import { CONTROLLER_ENV } from '../../charts/operator/controller-config.ts';
import { DICOM_DESTINATION_SCHEMA } from '../../charts/operator/crd.ts';
import { REPO_ROOT } from './fixtures.ts';

const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'operator.md'), 'utf8');

/** Every field path under spec, arrays as `[]`: `spec.aeTitles[].aeTitle`. */
function fieldPaths(schema: IJSONSchemaProps, at: string): string[] {
  const own = at === 'spec' ? [] : [at];
  if (schema.type === 'array') return [...own, ...fieldPaths(schema.items as IJSONSchemaProps, `${at}[]`).filter((p) => p !== `${at}[]`)];
  return [...own, ...Object.entries(schema.properties ?? {}).flatMap(([name, child]) => fieldPaths(child, `${at}.${name}`))];
}

describe('docs/operator.md', () => {
  test('documents every field of the spec', () => {
    const spec = DICOM_DESTINATION_SCHEMA.properties?.['spec'] as IJSONSchemaProps;
    const leaves = fieldPaths(spec, 'spec').filter((p) => !['spec.storage', 'spec.tls', 'spec.loadBalancer', 'spec.scaling', 'spec.resources'].includes(p));
    expect(leaves.filter((p) => !doc.includes(`| \`${p}\` |`))).toEqual([]);
  });

  test('documents every variable of the controller', () => {
    expect(CONTROLLER_ENV.map((variable) => variable.name).filter((name) => !doc.includes(`| \`${name}\` |`))).toEqual([]);
  });

  test('says plainly that the tests run against a stand-in, not an API server', () => {
    expect(doc).toContain('an in-process HTTP **stand-in**. It is not an API server');
  });
});
