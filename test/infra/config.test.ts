import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { DESTINATION_NAME as OPERATOR_DESTINATION_NAME } from '../../charts/operator/validate.ts';
import { DESTINATION_NAME, DeploymentConfigError, loadDeploymentConfig, parseDeploymentConfig } from '../../infra/config.ts';
import { BASE_CONFIG } from './stack-fixture.ts';

const infraDir = path.resolve(import.meta.dirname, '../../infra');

describe('deployment config', () => {
  test('the committed example config is valid', () => {
    // GIVEN the example config shipped in infra/config
    const file = path.join(infraDir, 'config/example.json');

    // WHEN it is loaded
    const config = loadDeploymentConfig(file);

    // THEN it parses into the example environment
    expect(config.name).toBe('example');
  });

  test('omitted fields take the documented defaults', () => {
    // GIVEN only the required fields

    // WHEN the config is parsed
    const config = parseDeploymentConfig(BASE_CONFIG);

    // THEN every default is filled in
    expect(config).toEqual({
      ...BASE_CONFIG,
      vpcCidr: '10.40.0.0/16',
      natGateways: 3,
      clusterName: 'dicom-destination-test',
      publicEndpointCidrs: [],
      storagePrefix: 'dicom',
      intelligentTieringAfterDays: 0,
      noncurrentVersionExpirationDays: 30,
      logRetentionDays: 365,
      ecrRepositoryName: 'dicom-destination/test/listener',
      controllerEcrRepositoryName: 'dicom-destination/test/controller',
      ecrMaxImageCount: 100,
      listener: { namespace: 'dicom', name: 'dicom-listener' },
      collector: { namespace: 'observability', name: 'adot-collector' },
      loadBalancerController: { namespace: 'kube-system', name: 'aws-load-balancer-controller' },
      alarmEmails: [],
      alarmThresholds: { storeFailures: 1, rejectedAssociations: 5 },
      destinations: [],
    });
  });

  test('destinations are kept in order with their prefixes', () => {
    // GIVEN two destinations
    const input = { ...BASE_CONFIG, destinations: [{ name: 'st-marys', prefix: 'incoming/st-marys' }, { name: 'north', prefix: 'north' }] };

    // WHEN the config is parsed
    const config = parseDeploymentConfig(input);

    // THEN both are there, unchanged
    expect(config.destinations).toEqual([{ name: 'st-marys', prefix: 'incoming/st-marys' }, { name: 'north', prefix: 'north' }]);
  });

  test('a destination name follows the same rule as the operator applies to DicomDestination names', () => {
    // GIVEN the operator's name pattern / WHEN compared with the config's / THEN they are the same rule
    expect(DESTINATION_NAME.source).toBe(OPERATOR_DESTINATION_NAME.source);
  });

  test('NAT gateways default to one per zone when two zones are configured', () => {
    // GIVEN two availability zones
    const input = { ...BASE_CONFIG, availabilityZones: ['eu-west-1a', 'eu-west-1b'] };

    // WHEN the config is parsed
    const config = parseDeploymentConfig(input);

    // THEN there is a NAT gateway per zone
    expect(config.natGateways).toBe(2);
  });

  test('a service account override keeps the default of the field it omits', () => {
    // GIVEN a listener override naming only the namespace
    const input = { ...BASE_CONFIG, listener: { namespace: 'pacs' } };

    // WHEN the config is parsed
    const config = parseDeploymentConfig(input);

    // THEN the service account name stays the default
    expect(config.listener).toEqual({ namespace: 'pacs', name: 'dicom-listener' });
  });

  test.each([
    ['name', { name: 'Prod' }, /name must be 1-20 lowercase letters/],
    ['account', { account: '12345' }, /account must be a 12-digit AWS account ID/],
    ['region', { region: 'europe' }, /region must be an AWS region code/],
    ['availabilityZones (one zone)', { availabilityZones: ['eu-west-1a'] }, /availabilityZones must list 2 or 3 zones \(got 1\)/],
    ['availabilityZones (four zones)', { availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c', 'eu-west-1d'] }, /availabilityZones must list 2 or 3 zones \(got 4\)/],
    ['availabilityZones (other region)', { availabilityZones: ['eu-west-1a', 'us-east-1b'] }, /availabilityZones\[1\] must be a zone of eu-west-1/],
    ['availabilityZones (repeated)', { availabilityZones: ['eu-west-1a', 'eu-west-1a'] }, /availabilityZones must not repeat an entry/],
    ['vpcCidr (host bits)', { vpcCidr: '10.40.1.0/16' }, /vpcCidr must be an IPv4 CIDR block with no host bits set/],
    ['vpcCidr (too small)', { vpcCidr: '10.40.0.0/24' }, /vpcCidr must be a \/16 to \/20 block/],
    ['natGateways (none)', { natGateways: 0 }, /natGateways must be an integer from 1 to 3/],
    ['natGateways (more than zones)', { natGateways: 4 }, /natGateways must be an integer from 1 to 3/],
    ['clusterName', { clusterName: '-bad' }, /clusterName must be 1-100 letters/],
    ['adminRoleArn (a user)', { adminRoleArn: 'arn:aws:iam::123456789012:user/alice' }, /adminRoleArn must be an IAM role ARN/],
    ['publicEndpointCidrs (the internet)', { publicEndpointCidrs: ['0.0.0.0/0'] }, /publicEndpointCidrs\[0\] must not open the API endpoint to the whole internet/],
    ['publicEndpointCidrs (not a CIDR)', { publicEndpointCidrs: ['203.0.113.7'] }, /publicEndpointCidrs\[0\] must be an IPv4 CIDR block/],
    ['storagePrefix (leading slash)', { storagePrefix: '/dicom' }, /storagePrefix must be a key prefix .* no leading or trailing slash/],
    ['storagePrefix (trailing slash)', { storagePrefix: 'dicom/' }, /storagePrefix must be a key prefix/],
    ['intelligentTieringAfterDays', { intelligentTieringAfterDays: -1 }, /intelligentTieringAfterDays must be an integer from 0 to 3650/],
    ['noncurrentVersionExpirationDays', { noncurrentVersionExpirationDays: 0 }, /noncurrentVersionExpirationDays must be an integer from 1 to 3650/],
    ['logRetentionDays', { logRetentionDays: 10 }, /logRetentionDays must be one of 1, 3, 5/],
    ['ecrRepositoryName', { ecrRepositoryName: 'Listener' }, /ecrRepositoryName must be a valid ECR repository name/],
    ['controllerEcrRepositoryName', { controllerEcrRepositoryName: 'Controller' }, /controllerEcrRepositoryName must be a valid ECR repository name/],
    ['controllerEcrRepositoryName (the listener\'s)', { controllerEcrRepositoryName: 'dicom-destination/test/listener' }, /controllerEcrRepositoryName must differ from ecrRepositoryName/],
    ['ecrMaxImageCount', { ecrMaxImageCount: 0 }, /ecrMaxImageCount must be an integer from 1 to 10000/],
    ['listener.namespace', { listener: { namespace: 'DICOM' } }, /listener\.namespace must be a Kubernetes namespace name/],
    ['collector.name', { collector: { name: 'adot_collector' } }, /collector\.name must be a Kubernetes service account name/],
    ['loadBalancerController (unknown key)', { loadBalancerController: { serviceAccount: 'x' } }, /loadBalancerController\.serviceAccount is not a known field/],
    ['alarmEmails', { alarmEmails: ['oncall'] }, /alarmEmails\[0\] must be an email address/],
    ['alarmThresholds.storeFailures', { alarmThresholds: { storeFailures: 0 } }, /alarmThresholds\.storeFailures must be a positive integer/],
    ['an unknown field', { bucketName: 'images' }, /bucketName is not a known field/],
    ['destinations (not a list)', { destinations: { name: 'north' } }, /destinations must be an array/],
    ['destinations[0].name (uppercase)', { destinations: [{ name: 'StMarys', prefix: 'a' }] }, /destinations\[0\]\.name must be a DicomDestination name/],
    ['destinations[0].name (starts with a digit)', { destinations: [{ name: '1north', prefix: 'a' }] }, /destinations\[0\]\.name must be a DicomDestination name/],
    ['destinations[0].name (48 characters)', { destinations: [{ name: 'a'.repeat(48), prefix: 'a' }] }, /destinations\[0\]\.name must be a DicomDestination name/],
    ['destinations[0].name (missing)', { destinations: [{ prefix: 'a' }] }, /destinations\[0\]\.name is required/],
    ['destinations[1].prefix (trailing slash)', { destinations: [{ name: 'a', prefix: 'a' }, { name: 'b', prefix: 'b/' }] }, /destinations\[1\]\.prefix must be a key prefix/],
    ['destinations[0] (unknown key)', { destinations: [{ name: 'a', prefix: 'a', roleName: 'x' }] }, /destinations\[0\]\.roleName is not a known field/],
    ['destinations[1].name (repeated)', { destinations: [{ name: 'north', prefix: 'a' }, { name: 'north', prefix: 'b' }] }, /destinations\[1\]\.name repeats "north"/],
    ['destinations[0].name (the listener service account)', { destinations: [{ name: 'dicom-listener', prefix: 'a' }] }, /destinations\[0\]\.name must differ from the listener service account name "dicom-listener"/],
    ['destinations[1].name (same output key)', { destinations: [{ name: 'site-1', prefix: 'a' }, { name: 'site1', prefix: 'b' }] }, /destinations\[1\]\.name "site1" and "site-1" would both have the stack output DestinationRoleSite1/],
  ])('a bad %s throws naming the field and the reason', (_field, override, message) => {
    // GIVEN a config with one bad value
    const input = { ...BASE_CONFIG, ...override };

    // WHEN it is parsed / THEN the error names the field and why
    expect(() => parseDeploymentConfig(input)).toThrow(message);
  });

  test('a missing required field is reported as required', () => {
    // GIVEN a config without an account
    const { account: _omitted, ...input } = BASE_CONFIG;

    // WHEN it is parsed / THEN the error names the missing field
    expect(() => parseDeploymentConfig(input)).toThrow(new DeploymentConfigError('account', 'is required'));
  });

  test('a config file that is not JSON is reported with its path', () => {
    // GIVEN a file holding invalid JSON
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'infra-config-')), 'broken.json');
    writeFileSync(file, '{ "name": ');

    // WHEN it is loaded / THEN the error names the file
    expect(() => loadDeploymentConfig(file)).toThrow(`Cannot read deployment config ${file}`);
  });
});
