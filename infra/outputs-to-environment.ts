/**
 * Builds a chart environment config from the stack's outputs and a small per-site file.
 *
 *   cdk deploy -c config=config/prod.json --outputs-file cdk-outputs.json
 *   node infra/outputs-to-environment.ts --outputs infra/cdk-outputs.json --site site.json \
 *     --out charts/environments/prod.json [--stack DicomDestination-prod]
 *
 * The site file holds what only the site knows (see {@link SiteConfig}); everything AWS created
 * comes from the outputs, so no ARN or bucket name is ever typed by hand.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type EnvironmentConfig, validateEnvironment } from '../charts/environment.ts';
import { STACK_OUTPUTS, type StackOutputKey } from './stack-outputs.ts';

/** What a site decides: everything in the chart environment that the stack does not create. */
export interface SiteConfig {
  /** Environment name; names the `k8s/<name>/` folder. */
  readonly name: string;
  /** Immutable tag of the listener image in the stack's repository (one of imageTag, imageDigest). */
  readonly imageTag?: string;
  /** `sha256:<hex>` digest of the listener image (one of imageTag, imageDigest). */
  readonly imageDigest?: string;
  /**
   * Immutable tag of the controller image in the stack's controller repository (at most one of
   * controllerImageTag, controllerImageDigest; with neither, the environment has no operator).
   */
  readonly controllerImageTag?: string;
  /** `sha256:<hex>` digest of the controller image (at most one of controllerImageTag, controllerImageDigest). */
  readonly controllerImageDigest?: string;
  readonly aeTitles: string[];
  readonly sourceCidrs: string[];
  readonly scheme: EnvironmentConfig['scheme'];
  readonly tls: EnvironmentConfig['tls'];
  /** Key prefix; must be the stack's StoragePrefix or below it. Defaults to the StoragePrefix. */
  readonly prefix?: string;
}

const SITE_FIELDS = new Set([
  'name', 'imageTag', 'imageDigest', 'controllerImageTag', 'controllerImageDigest', 'aeTitles', 'sourceCidrs', 'scheme', 'tls', 'prefix']);

/**
 * Picks one stack's outputs from a `cdk deploy --outputs-file` document.
 *
 * @param stackName required only when the file holds more than one stack
 */
export function stackOutputs(outputsFile: unknown, stackName?: string): Record<StackOutputKey, string> {
  if (!isRecord(outputsFile)) throw new Error('outputs file must be a JSON object of stack name to outputs');
  const stacks = Object.keys(outputsFile);
  const chosen = stackName ?? (stacks.length === 1 ? stacks[0] : undefined);
  if (chosen === undefined) {
    throw new Error(`outputs file holds ${stacks.length} stacks (${stacks.join(', ') || 'none'}); pass --stack to choose one`);
  }
  const outputs = outputsFile[chosen];
  if (!isRecord(outputs)) throw new Error(`outputs file has no stack "${chosen}" (it has ${stacks.join(', ') || 'none'})`);
  const picked: Partial<Record<StackOutputKey, string>> = {};
  for (const key of STACK_OUTPUTS) {
    const value = outputs[key];
    if (typeof value !== 'string' || value === '') throw new Error(`outputs of ${chosen}: ${key} is missing; was the stack deployed from this version of infra/?`);
    picked[key] = value;
  }
  return picked as Record<StackOutputKey, string>;
}

/**
 * Combines stack outputs and a site file into a validated chart environment config.
 *
 * @throws Error naming the site field or output that is wrong, or the environment field
 *   `validateEnvironment` rejects.
 */
export function toEnvironment(outputs: Record<StackOutputKey, string>, siteInput: unknown): EnvironmentConfig {
  if (!isRecord(siteInput)) throw new Error('site file must be a JSON object');
  const unknown = Object.keys(siteInput).find((key) => !SITE_FIELDS.has(key));
  if (unknown !== undefined) throw new Error(`site file: ${unknown} is not a known field; expected ${[...SITE_FIELDS].join(', ')}`);
  const site = siteInput as Partial<SiteConfig>;

  if ((site.imageTag === undefined) === (site.imageDigest === undefined)) {
    throw new Error('site file: set exactly one of imageTag or imageDigest');
  }
  const image = imageReference(outputs.EcrRepositoryUri, site.imageTag, site.imageDigest);
  if (site.controllerImageTag !== undefined && site.controllerImageDigest !== undefined) {
    throw new Error('site file: set at most one of controllerImageTag or controllerImageDigest');
  }
  const controllerImage = site.controllerImageTag === undefined && site.controllerImageDigest === undefined
    ? undefined
    : imageReference(outputs.ControllerRepositoryUri, site.controllerImageTag, site.controllerImageDigest);

  const prefix = site.prefix ?? outputs.StoragePrefix;
  if (typeof prefix !== 'string' || (prefix !== outputs.StoragePrefix && !prefix.startsWith(`${outputs.StoragePrefix}/`))) {
    throw new Error(`site file: prefix ${JSON.stringify(prefix)} is outside the stack's StoragePrefix "${outputs.StoragePrefix}"; `
      + `the listener role may only write under ${outputs.StoragePrefix}/`);
  }

  return validateEnvironment({
    name: site.name,
    region: outputs.Region,
    clusterName: outputs.ClusterName,
    image,
    listenerRoleArn: outputs.ListenerRoleArn,
    collectorRoleArn: outputs.CollectorRoleArn,
    bucket: outputs.BucketName,
    prefix,
    kmsKeyArn: outputs.KmsKeyArn,
    aeTitles: site.aeTitles,
    sourceCidrs: site.sourceCidrs,
    scheme: site.scheme,
    tls: site.tls,
    ...(controllerImage === undefined ? {} : { controllerImage }),
  });
}

/** `<repository>:<tag>` when a tag is given, else `<repository>@<digest>`; validateEnvironment checks the result. */
function imageReference(repositoryUri: string, tag: unknown, digest: unknown): string {
  return tag !== undefined ? `${repositoryUri}:${String(tag)}` : `${repositoryUri}@${String(digest)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      outputs: { type: 'string' },
      site: { type: 'string' },
      out: { type: 'string' },
      stack: { type: 'string' },
    },
    strict: true,
  });
  if (!values.outputs || !values.site || !values.out) {
    throw new Error('usage: node infra/outputs-to-environment.ts --outputs <cdk-outputs.json> --site <site.json> --out <environment.json> [--stack <name>]');
  }
  const outputs = stackOutputs(readJson(values.outputs, 'outputs file'), values.stack);
  const environment = toEnvironment(outputs, readJson(values.site, 'site file'));
  mkdirSync(path.dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(environment, null, 2)}\n`);
  process.stdout.write(`wrote ${values.out} (environment ${environment.name}, cluster ${environment.clusterName})\n`);
}

if (import.meta.main) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`outputs-to-environment: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
