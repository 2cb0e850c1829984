import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { loadDeploymentConfig } from '../../infra/config.ts';
import { applicationLogGroupName, LISTENER_METRICS, metricsLogGroupName } from '../../infra/telemetry-contract.ts';
import { exampleEnvironment, find, REPO_ROOT, synthDestination } from './fixtures.ts';

// infra/ creates the log groups, roles and alarms the charts' objects must meet by name.
const environment = exampleEnvironment();
const objects = synthDestination(environment);
const emf = parse(find(objects, 'ConfigMap', 'adot-collector').data['collector.yaml']).exporters.awsemf;

describe('the contract with infra/', () => {
  test('the collector writes EMF to the metrics log group infra creates, in the namespace its alarms read', () => {
    expect(emf.log_group_name).toBe(metricsLogGroupName(environment.clusterName));
    expect(emf.namespace).toBe(LISTENER_METRICS.namespace);
  });

  test('the listener counters are published with the single dimensions the alarms match exactly', () => {
    // GIVEN the metric declarations
    const declarations: { metric_name_selectors: string[]; dimensions: string[][] }[] = emf.metric_declarations;
    for (const metric of [LISTENER_METRICS.instances, LISTENER_METRICS.associations]) {
      // THEN some declaration selects the metric and publishes its alarm dimension on its own
      const declaration = declarations.find((d) => d.metric_name_selectors.some((selector) => new RegExp(selector).test(metric.metricName)));
      expect(declaration?.dimensions, metric.metricName).toContainEqual([metric.dimension]);
    }
  });

  test('the Fargate log router writes to the application log group infra creates', () => {
    expect(find(objects, 'ConfigMap', 'aws-logging').data['output.conf']).toContain(`log_group_name ${applicationLogGroupName(environment.clusterName)}\n`);
  });

  test('the IRSA roles trust the service accounts the charts create', () => {
    // GIVEN infra's example deployment config, whose defaults name the trusted service accounts
    const config = loadDeploymentConfig(path.join(REPO_ROOT, 'infra', 'config', 'example.json'));
    // THEN the charts create exactly those accounts
    for (const account of [config.listener, config.collector]) {
      expect(find(objects, 'ServiceAccount', account.name).metadata.namespace).toBe(account.namespace);
    }
  });
});
