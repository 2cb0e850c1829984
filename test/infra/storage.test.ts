import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import { logicalId, resourceOf, synthesize, type SynthesizedStack } from './stack-fixture.ts';

describe('image storage', () => {
  let built: SynthesizedStack;
  let bucketId: string;
  let keyId: string;

  beforeAll(() => {
    // GIVEN the stack with default storage settings
    built = synthesize({ noncurrentVersionExpirationDays: 45, intelligentTieringAfterDays: 2 });
    bucketId = logicalId(built.stack.imageStore.bucket);
    keyId = logicalId(built.stack.imageStore.key);
  });

  test('the image bucket is SSE-KMS with the customer-managed key and a bucket key', () => {
    // WHEN the bucket's encryption is read / THEN it names the stack's CMK
    expect(resourceOf(built.template, built.stack.imageStore.bucket).Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{
        BucketKeyEnabled: true,
        ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } },
      }],
    });
  });

  test('the image key rotates automatically', () => {
    // WHEN the key is read / THEN rotation is on
    expect(resourceOf(built.template, built.stack.imageStore.key).Properties.EnableKeyRotation).toBe(true);
  });

  test('the image bucket policy denies every request that is not TLS', () => {
    // WHEN the bucket policy is read / THEN it denies aws:SecureTransport=false on the bucket and its objects
    built.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([{
          Action: 's3:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Resource: [
            { 'Fn::GetAtt': [bucketId, 'Arn'] },
            { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] },
          ],
        }]),
      },
    });
  });

  test('the image bucket blocks all public access and enforces bucket-owner object ownership', () => {
    // WHEN the bucket is read
    const properties = resourceOf(built.template, built.stack.imageStore.bucket).Properties;

    // THEN all four public-access blocks are on and ACLs are disabled
    expect({ block: properties.PublicAccessBlockConfiguration, ownership: properties.OwnershipControls }).toEqual({
      block: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      ownership: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
  });

  test('the image bucket is versioned', () => {
    // WHEN the bucket is read / THEN versioning is enabled
    expect(resourceOf(built.template, built.stack.imageStore.bucket).Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  test('the lifecycle tiers objects, aborts stale multipart uploads after a day and expires old versions', () => {
    // WHEN the lifecycle rules are read / THEN they are exactly the three configured rules
    expect(resourceOf(built.template, built.stack.imageStore.bucket).Properties.LifecycleConfiguration).toEqual({
      Rules: [
        { Id: 'intelligent-tiering', Status: 'Enabled', Transitions: [{ StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 2 }] },
        { Id: 'abort-incomplete-multipart-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
        { Id: 'expire-noncurrent-versions', Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 45 } },
      ],
    });
  });

  test('the image bucket and its key are retained when the stack is deleted', () => {
    // WHEN the deletion policies are read / THEN neither bucket nor key is deleted or replaced away
    const bucket = resourceOf(built.template, built.stack.imageStore.bucket);
    const key = resourceOf(built.template, built.stack.imageStore.key);
    expect([bucket.DeletionPolicy, bucket.UpdateReplacePolicy, key.DeletionPolicy, key.UpdateReplacePolicy]).toEqual(['Retain', 'Retain', 'Retain', 'Retain']);
  });

  test('server access logs go to the separate log bucket', () => {
    // WHEN the image bucket's logging is read / THEN it targets the access-log bucket
    expect(resourceOf(built.template, built.stack.imageStore.bucket).Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: logicalId(built.stack.imageStore.accessLogBucket) },
      LogFilePrefix: 'images/',
    });
  });

  test('the access-log bucket is private, TLS-only, encrypted and retained', () => {
    // WHEN the access-log bucket is read
    const accessLogs = resourceOf(built.template, built.stack.imageStore.accessLogBucket);

    // THEN it is locked down like the image bucket (with SSE-S3, the only encryption log delivery supports)
    expect({
      encryption: accessLogs.Properties.BucketEncryption,
      block: accessLogs.Properties.PublicAccessBlockConfiguration,
      ownership: accessLogs.Properties.OwnershipControls,
      deletion: accessLogs.DeletionPolicy,
    }).toEqual({
      encryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      block: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      ownership: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      deletion: 'Retain',
    });
  });

  test('the access-log bucket policy admits only S3 log delivery from this account and denies non-TLS requests', () => {
    // WHEN the access-log bucket policy is read
    const accessLogsId = logicalId(built.stack.imageStore.accessLogBucket);

    // THEN log delivery is scoped to the image bucket and account, and plain HTTP is denied
    built.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: accessLogsId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Action: 's3:PutObject',
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Condition: {
              ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [bucketId, 'Arn'] } },
              StringEquals: { 'aws:SourceAccount': '123456789012' },
            },
          }),
        ]),
      },
    });
  });
});
