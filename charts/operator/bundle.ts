/**
 * Bundles the controller into one self-contained ES module, for its image (charts/operator/Dockerfile):
 * the controller needs @kubernetes/client-node, cdk8s and constructs, which are not among the
 * listener's production dependencies, so its image ships this file instead of a node_modules tree.
 *
 *   node charts/operator/bundle.ts [outfile]        (default dist/controller.mjs)
 *
 * esbuild comes with the dev dependencies (through tsx and vite), at the version package-lock.json pins.
 */
import path from 'node:path';
import { build } from 'esbuild';

export const ENTRY = path.join(import.meta.dirname, 'controller-main.ts');

export async function bundleController(outfile: string): Promise<void> {
  await build({
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    // Bundled CommonJS dependencies call require() for Node built-ins; an ES module has none of its own.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    legalComments: 'linked',
    logLevel: 'warning',
  });
}

if (import.meta.main) {
  const outfile = path.resolve(process.argv[2] ?? 'dist/controller.mjs');
  await bundleController(outfile);
  process.stdout.write(`wrote ${outfile}\n`);
}
