import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { FARGATE_LOGGING_MAX_CHARACTERS, FargateLogging } from '../../charts/fargate-logging.ts';
import { find, REPO_ROOT, synthIn } from './fixtures.ts';
import { readManifestFiles } from './manifest-files.ts';

const PROPS = { region: 'eu-west-1', logGroupName: '/dicom-destination/test/application' };

describe('FargateLogging', () => {
  test('creates the aws-observability namespace with the label Fargate looks for', () => {
    // GIVEN default props WHEN synthesized
    const namespace = find(synthIn((chart) => new FargateLogging(chart, 'logging', PROPS)), 'Namespace', 'aws-observability');
    // THEN the namespace is labelled for the log router
    expect(namespace.metadata.labels).toEqual({ 'aws-observability': 'enabled' });
  });

  test('routes container logs to the CloudWatch Logs group infra created, without creating one', () => {
    // GIVEN a log group WHEN synthesized
    const config = find(synthIn((chart) => new FargateLogging(chart, 'logging', PROPS)), 'ConfigMap', 'aws-logging');
    // THEN the output is cloudwatch_logs in that region and group
    expect(config.metadata.namespace).toBe('aws-observability');
    expect(config.data['output.conf']).toMatch(/^\[OUTPUT\]\n {4}Name cloudwatch_logs\n/);
    expect(config.data['output.conf']).toContain('    region eu-west-1\n');
    expect(config.data['output.conf']).toContain('    log_group_name /dicom-destination/test/application\n');
    expect(config.data['output.conf']).toContain('    auto_create_group false\n');
  });

  test('keeps every committed aws-logging ConfigMap within Fargate\'s 5,300-character limit', () => {
    // GIVEN the committed manifests
    const files = readManifestFiles(path.join(REPO_ROOT, 'k8s')).filter((file) => file.objects.some((object) => object.metadata.name === 'aws-logging'));
    // WHEN measured, as written and as data
    // THEN each is under the limit
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      expect(file.text.length, file.file).toBeLessThanOrEqual(FARGATE_LOGGING_MAX_CHARACTERS);
    }
  });

  test('rejects a log group name CloudWatch would refuse', () => {
    expect(() => synthIn((chart) => new FargateLogging(chart, 'logging', { ...PROPS, logGroupName: 'bad name!' })))
      .toThrow(/logGroupName "bad name!" is not a CloudWatch Logs group name/);
  });
});
