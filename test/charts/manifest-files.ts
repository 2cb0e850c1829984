import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './fixtures.ts';

export interface ManifestFile {
  /** Path relative to the folder that was read. */
  readonly file: string;
  readonly text: string;
  readonly objects: KubeObject[];
}

/** Every `*.yaml` file under `dir`, recursively, sorted by path. */
export function readManifestFiles(dir: string): ManifestFile[] {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.yaml'))
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
  return files.map((file) => {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const objects = parseAllDocuments(text).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
      return document.toJS() as KubeObject;
    });
    return { file, text, objects };
  });
}
