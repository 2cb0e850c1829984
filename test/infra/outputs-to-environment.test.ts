import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from 'vitest';
import { validateEnvironment } from '../../charts/environment.ts';
import { stackOutputs, toEnvironment } from '../../infra/outputs-to-environment.ts';
import { STACK_OUTPUTS, type StackOutputKey } from '../../infra/stack-outputs.ts';
import { fakeDeployOutputs } from './fake-deploy.ts';
import { logicalId, synthesize, type SynthesizedStack } from './stack-fixture.ts';

const run = promisify(execFile);
const script = path.resolve(import.meta.dirname, '../../infra/outputs-to-environment.ts');

const SITE = {
  name: 'test',
  imageTag: '1.4.2',
  aeTitles: ['DICOMS3'],
  sourceCidrs: ['10.20.0.0/16'],
  scheme: 'internal',
  tls: { mode: 'passthrough', secretName: 'dicom-listener-tls' },
} as const;

describe('stack outputs and the chart environment', () => {
  let built: SynthesizedStack;
  let deployed: Record<string, Record<string, string>>;
  let outputs: Record<StackOutputKey, string>;

  beforeAll(() => {
    // GIVEN the synthesized stack and what `cdk deploy --outputs-file` would write for it
    built = synthesize();
    deployed = fakeDeployOutputs(built.template, built.stack.stackName, '123456789012', 'eu-west-1');
    outputs = stackOutputs(deployed);
  });

  test('the stack declares exactly the documented output keys', () => {
    // WHEN the template's outputs are listed / THEN they are the fixed keys
    expect(Object.keys(built.template.toJSON().Outputs).sort()).toEqual([...STACK_OUTPUTS].sort());
  });

  test('each output references the resource it is named for', () => {
    // WHEN the output values are read
    const { stack } = built;
    const value = (key: StackOutputKey) => built.template.toJSON().Outputs[key].Value;

    // THEN each points at the right resource attribute
    expect(Object.fromEntries(['BucketName', 'KmsKeyArn', 'ListenerRoleArn', 'CollectorRoleArn', 'ClusterName', 'Region', 'VpcCidr', 'StoragePrefix', 'MetricsLogGroupName', 'ApplicationLogGroupName']
      .map((key) => [key, value(key as StackOutputKey)]))).toEqual({
      BucketName: { Ref: logicalId(stack.imageStore.bucket) },
      KmsKeyArn: { 'Fn::GetAtt': [logicalId(stack.imageStore.key), 'Arn'] },
      ListenerRoleArn: { 'Fn::GetAtt': [logicalId(stack.identities.listenerRole), 'Arn'] },
      CollectorRoleArn: { 'Fn::GetAtt': [logicalId(stack.identities.collectorRole), 'Arn'] },
      ClusterName: { Ref: logicalId(stack.cluster.cluster) },
      Region: 'eu-west-1',
      VpcCidr: { 'Fn::GetAtt': [logicalId(stack.network.vpc), 'CidrBlock'] },
      StoragePrefix: 'dicom',
      MetricsLogGroupName: { Ref: logicalId(stack.observability.metricsLogGroup) },
      ApplicationLogGroupName: { Ref: logicalId(stack.cluster.applicationLogGroup) },
    });
  });

  test('destination role outputs are extra keys that the converter ignores', () => {
    // GIVEN what a deploy of a stack with one destination would write
    const withDestination = synthesize({ destinations: [{ name: 'st-marys', prefix: 'incoming/st-marys' }] });
    const written = fakeDeployOutputs(withDestination.template, withDestination.stack.stackName, '123456789012', 'eu-west-1');

    // WHEN the fixed outputs are picked from it
    const picked = stackOutputs(written);

    // THEN the file holds the fixed keys plus the destination's, and the converter reads exactly the fixed keys
    expect({ written: Object.keys(written[withDestination.stack.stackName]!).sort(), picked: Object.keys(picked).sort() })
      .toEqual({ written: [...STACK_OUTPUTS, 'DestinationRoleStMarys'].sort(), picked: [...STACK_OUTPUTS].sort() });
  });

  test('the repository URI output is built from the listener repository', () => {
    // WHEN the deployed repository URI is read / THEN it is the registry host and repository name
    expect(outputs.EcrRepositoryUri).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com/dicom-destination/test/listener');
  });

  test('the controller repository URI output is built from the controller repository', () => {
    // WHEN the deployed controller repository URI is read / THEN it is the registry host and the controller repository's name
    expect(outputs.ControllerRepositoryUri).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com/dicom-destination/test/controller');
  });

  test('deployed outputs and a site file become an environment that validateEnvironment accepts', () => {
    // WHEN the converter runs
    const environment = toEnvironment(outputs, SITE);

    // THEN the result is valid and carries the stack's resources and the site's choices
    expect(validateEnvironment(JSON.parse(JSON.stringify(environment)))).toEqual({
      name: 'test',
      region: 'eu-west-1',
      clusterName: 'dicom-destination-test',
      image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/dicom-destination/test/listener:1.4.2',
      listenerRoleArn: outputs.ListenerRoleArn,
      collectorRoleArn: outputs.CollectorRoleArn,
      bucket: outputs.BucketName,
      prefix: 'dicom',
      kmsKeyArn: outputs.KmsKeyArn,
      aeTitles: ['DICOMS3'],
      sourceCidrs: ['10.20.0.0/16'],
      scheme: 'internal',
      tls: { mode: 'passthrough', secretName: 'dicom-listener-tls' },
    });
  });

  test('an image digest pins the image by digest', () => {
    // GIVEN a site that pins a digest
    const digest = `sha256:${'ab'.repeat(32)}`;
    const { imageTag: _tag, ...site } = { ...SITE, imageDigest: digest };

    // WHEN the converter runs / THEN the image is <repository>@<digest>
    expect(toEnvironment(outputs, site).image).toBe(`${outputs.EcrRepositoryUri}@${digest}`);
  });

  test('a controller image tag becomes the controller image in the controller repository', () => {
    // WHEN the site names a controller tag / THEN controllerImage is <controller repository>:<tag>
    expect(toEnvironment(outputs, { ...SITE, controllerImageTag: 'controller-0.1.0' }).controllerImage)
      .toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com/dicom-destination/test/controller:controller-0.1.0');
  });

  test('a controller image digest pins the controller image by digest', () => {
    // GIVEN a site that pins a controller digest
    const digest = `sha256:${'cd'.repeat(32)}`;

    // WHEN the converter runs / THEN controllerImage is <controller repository>@<digest>
    expect(toEnvironment(outputs, { ...SITE, controllerImageDigest: digest }).controllerImage).toBe(`${outputs.ControllerRepositoryUri}@${digest}`);
  });

  test('a site with both a controller image tag and digest is refused', () => {
    // WHEN both are given / THEN the converter asks for at most one
    expect(() => toEnvironment(outputs, { ...SITE, controllerImageTag: 'controller-0.1.0', controllerImageDigest: `sha256:${'cd'.repeat(32)}` }))
      .toThrow('set at most one of controllerImageTag or controllerImageDigest');
  });

  test('a site without a controller image gives an environment without one', () => {
    // WHEN the site names no controller image / THEN the environment has no controllerImage key
    expect(Object.keys(toEnvironment(outputs, SITE))).not.toContain('controllerImage');
  });

  test('a controller tag the chart environment forbids is refused by validateEnvironment', () => {
    // WHEN the site names the mutable latest tag / THEN the environment validator names controllerImage
    expect(() => toEnvironment(outputs, { ...SITE, controllerImageTag: 'latest' })).toThrow(/invalid environment config: controllerImage must not use the mutable tag "latest"/);
  });

  test('a site prefix below the stack prefix is kept', () => {
    // WHEN the site narrows the prefix / THEN the environment uses it
    expect(toEnvironment(outputs, { ...SITE, prefix: 'dicom/site-a' }).prefix).toBe('dicom/site-a');
  });

  test('a site prefix outside the stack prefix is refused, since the listener role could not write there', () => {
    // WHEN the site asks for another prefix / THEN the converter names the allowed one
    expect(() => toEnvironment(outputs, { ...SITE, prefix: 'dicom-other' })).toThrow(/prefix "dicom-other" is outside the stack's StoragePrefix "dicom"/);
  });

  test('a site with both an image tag and a digest is refused', () => {
    // WHEN both are given / THEN the converter asks for exactly one
    expect(() => toEnvironment(outputs, { ...SITE, imageDigest: `sha256:${'ab'.repeat(32)}` })).toThrow('set exactly one of imageTag or imageDigest');
  });

  test('an unknown site field is refused by name', () => {
    // WHEN the site has a typo / THEN the converter names the field
    expect(() => toEnvironment(outputs, { ...SITE, aeTitle: 'DICOMS3' })).toThrow(/site file: aeTitle is not a known field/);
  });

  test('site values the chart environment forbids are refused by validateEnvironment', () => {
    // WHEN an internet-facing site asks for plain DICOM / THEN the environment validator names the field
    expect(() => toEnvironment(outputs, { ...SITE, scheme: 'internet-facing', tls: { mode: 'none' } })).toThrow(/invalid environment config: tls\.mode/);
  });

  test('an outputs file from another version of the stack is refused by missing key', () => {
    // GIVEN deployed outputs without the repository URI
    const { EcrRepositoryUri: _uri, ...partial } = deployed[built.stack.stackName]!;

    // WHEN its outputs are picked / THEN the missing key is named
    expect(() => stackOutputs({ [built.stack.stackName]: partial })).toThrow(/EcrRepositoryUri is missing/);
  });

  test('an outputs file with several stacks needs the stack named', () => {
    // GIVEN outputs of two environments
    const two = { ...deployed, 'DicomDestination-other': deployed[built.stack.stackName]! };

    // WHEN no stack is chosen / THEN the converter lists them
    expect(() => stackOutputs(two)).toThrow(/holds 2 stacks \(DicomDestination-test, DicomDestination-other\); pass --stack/);
  });

  test('the command writes the environment file', async () => {
    // GIVEN an outputs file and a site file on disk
    const dir = mkdtempSync(path.join(tmpdir(), 'outputs-to-environment-'));
    writeFileSync(path.join(dir, 'cdk-outputs.json'), JSON.stringify(deployed));
    writeFileSync(path.join(dir, 'site.json'), JSON.stringify(SITE));
    const out = path.join(dir, 'environments', 'test.json');

    // WHEN the documented command runs
    await run(process.execPath, [script, '--outputs', path.join(dir, 'cdk-outputs.json'), '--site', path.join(dir, 'site.json'), '--out', out]);

    // THEN the written file is the converted environment
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(toEnvironment(outputs, SITE));
  });

  test('the command exits non-zero with the reason when the site file is invalid', async () => {
    // GIVEN a site file missing its AE titles
    const dir = mkdtempSync(path.join(tmpdir(), 'outputs-to-environment-'));
    const { aeTitles: _titles, ...site } = SITE;
    writeFileSync(path.join(dir, 'cdk-outputs.json'), JSON.stringify(deployed));
    writeFileSync(path.join(dir, 'site.json'), JSON.stringify(site));

    // WHEN the command runs / THEN it fails naming the field
    await expect(run(process.execPath, [script, '--outputs', path.join(dir, 'cdk-outputs.json'), '--site', path.join(dir, 'site.json'), '--out', path.join(dir, 'out.json')]))
      .rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/aeTitles must be a non-empty array/) });
  });
});
