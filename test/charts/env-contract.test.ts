import { describe, expect, test } from 'vitest';
import { LISTENER_ENV } from '../../listener/config.ts';
import { exampleEnvironment, find, synthDestination } from './fixtures.ts';

/** Standard variables read by the OpenTelemetry and AWS SDKs rather than by the listener's own code. */
const SDK_VARIABLES = [
  'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_TRACES_EXPORTER', 'OTEL_LOGS_EXPORTER', 'AWS_REGION',
];
const REQUIRED = ['DICOM_AE_TITLE', 'DICOM_PORT', 'OPS_PORT', 'STORAGE_URL', 'DRAIN_TIMEOUT_SECONDS', 'DICOM_POLICY_FILE'];
const REQUIRED_FOR_TLS = ['DICOM_TLS_PORT', 'DICOM_TLS_CERT_FILE', 'DICOM_TLS_KEY_FILE', 'DICOM_TLS_CA_FILE', 'DICOM_TLS_REQUIRE_CLIENT_CERT'];

const modes = {
  passthrough: exampleEnvironment({ tls: { mode: 'passthrough', secretName: 'dicom-listener-tls' } }),
  nlb: exampleEnvironment({ tls: { mode: 'nlb', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/12345678-1234-1234-1234-123456789012' } }),
  none: exampleEnvironment({ tls: { mode: 'none' } }),
};

function deploymentEnv(mode: keyof typeof modes): string[] {
  const container = find(synthDestination(modes[mode]), 'Deployment', 'dicom-listener').spec.template.spec.containers[0];
  return container.env.map((variable: { name: string }) => variable.name);
}

describe('the listener env contract', () => {
  test.each(Object.keys(modes))('with TLS mode %s, every variable set is one the listener or a standard SDK reads', (mode) => {
    // GIVEN the listener's declared variables and the SDK allow-list
    const known = new Set([...LISTENER_ENV.map((variable) => variable.name), ...SDK_VARIABLES]);
    // WHEN the Deployment's env is compared THEN nothing is unknown
    expect(deploymentEnv(mode as keyof typeof modes).filter((name) => !known.has(name))).toEqual([]);
  });

  test.each(Object.keys(modes))('with TLS mode %s, the Deployment sets what the listener needs in the cluster', (mode) => {
    expect(deploymentEnv(mode as keyof typeof modes)).toEqual(expect.arrayContaining(REQUIRED));
  });

  test('with TLS passed through, the Deployment sets every TLS variable', () => {
    expect(deploymentEnv('passthrough')).toEqual(expect.arrayContaining(REQUIRED_FOR_TLS));
  });

  test('every required variable is one the listener declares', () => {
    const declared = LISTENER_ENV.map((variable) => variable.name);
    expect([...REQUIRED, ...REQUIRED_FOR_TLS].filter((name) => !declared.includes(name))).toEqual([]);
  });
});
