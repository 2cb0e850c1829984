import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { validateEnvironment } from '../../charts/environment.ts';
import { REPO_ROOT } from './fixtures.ts';

const example = JSON.parse(readFileSync(path.join(REPO_ROOT, 'charts', 'environments', 'example.json'), 'utf8')) as Record<string, unknown>;
const ECR = '111122223333.dkr.ecr.eu-west-1.amazonaws.com/dicom-listener';

describe('validateEnvironment', () => {
  test('accepts the committed example environment', () => {
    // GIVEN the example JSON
    // WHEN it is validated
    const config = validateEnvironment(example);
    // THEN it comes back unchanged in meaning
    expect(config).toEqual(example);
  });

  test('accepts an image pinned by digest', () => {
    // GIVEN an image referenced by sha256 digest only
    const image = `${ECR}@sha256:${'a'.repeat(64)}`;
    // WHEN validated THEN it is kept
    expect(validateEnvironment({ ...example, image }).image).toBe(image);
  });

  test('leaves kmsKeyArn out when the environment has none', () => {
    // GIVEN an environment without a KMS key
    const { kmsKeyArn: _omitted, ...withoutKey } = example;
    // WHEN validated THEN the result has no kmsKeyArn key at all
    expect(Object.keys(validateEnvironment(withoutKey))).not.toContain('kmsKeyArn');
  });

  test.each([
    ['a :latest image', { image: `${ECR}:latest` }, /image must not use the mutable tag "latest"/],
    ['an untagged image', { image: ECR }, /image has no tag or digest/],
    ['an image outside ECR', { image: 'docker.io/library/node:24' }, /image must be an ECR repository URI/],
    ['a malformed digest', { image: `${ECR}@sha256:abc` }, /image digest must be sha256/],
    ['a role that is not an IAM role ARN', { listenerRoleArn: 'arn:aws:iam::111122223333:user/bob' }, /listenerRoleArn must be an IAM role ARN/],
    ['an invalid bucket name', { bucket: 'Not_A_Bucket' }, /bucket must be an S3 bucket name/],
    ['a prefix with a leading slash', { prefix: '/incoming' }, /prefix must have no leading, trailing or doubled slash/],
    ['no AE titles', { aeTitles: [] }, /aeTitles must be a non-empty array/],
    ['an AE title longer than 16 characters', { aeTitles: ['SEVENTEEN_CHARS_X'] }, /aeTitles\[0\] "SEVENTEEN_CHARS_X" must be 1-16/],
    ['a duplicated AE title', { aeTitles: ['A', 'A'] }, /aeTitles lists "A" twice/],
    ['a malformed CIDR', { sourceCidrs: ['10.0.0.0/33'] }, /sourceCidrs\[0\] must be an IPv4 or IPv6 CIDR/],
    ['an internet-facing NLB open to the world', { scheme: 'internet-facing', sourceCidrs: ['0.0.0.0/0'] }, /sourceCidrs\[0\] "0\.0\.0\.0\/0" opens an internet-facing/],
    ['an internet-facing NLB without TLS', { scheme: 'internet-facing', tls: { mode: 'none' } }, /tls\.mode must be "passthrough" or "nlb" when scheme is "internet-facing"/],
    ['an unknown scheme', { scheme: 'public' }, /scheme must be "internal" or "internet-facing"/],
    ['NLB TLS without a certificate', { tls: { mode: 'nlb' } }, /tls\.certificateArn must be a non-empty string/],
    ['a field of another TLS mode', { tls: { mode: 'none', secretName: 'x' } }, /tls\.secretName is not a field of tls mode "none"/],
    ['an unknown TLS mode', { tls: { mode: 'mtls' } }, /tls\.mode must be "none", "passthrough" or "nlb"/],
    ['a KMS value that is not a key ARN', { kmsKeyArn: 'alias/foo' }, /kmsKeyArn must be a KMS key or alias ARN/],
    ['a misspelt field', { bukcet: 'x' }, /bukcet is not a known field/],
    ['a name that is not a DNS label', { name: 'Prod_1' }, /name must be a DNS label/],
  ])('rejects %s, naming the field', (_case, patch, message) => {
    // GIVEN the example with one field broken
    const input = { ...example, ...patch };
    // WHEN validated THEN the error names the field and the reason
    expect(() => validateEnvironment(input)).toThrow(message);
  });

  test('rejects something that is not an object', () => {
    expect(() => validateEnvironment(['example'])).toThrow(/\(root\) must be an object/);
  });
});
