import { Duration, RemovalPolicy, aws_kms as kms, aws_s3 as s3 } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { acknowledge } from './compliance.ts';

/** Properties of the {@link ImageStore}. */
export interface ImageStoreProps {
  /**
   * Days after which objects move to S3 Intelligent-Tiering.
   *
   * @default 0 - objects move on the first lifecycle run after upload
   */
  readonly intelligentTieringAfterDays?: number;
  /**
   * Days a replaced or deleted object version is kept before it expires.
   *
   * @default 30
   */
  readonly noncurrentVersionExpirationDays?: number;
}

/**
 * Where received DICOM instances land: a versioned, KMS-encrypted bucket that outlives the stack.
 *
 * The bucket, its key and its access logs are retained on stack deletion: image data is
 * never deleted by tearing the infrastructure down.
 */
export class ImageStore extends Construct {
  readonly bucket: s3.Bucket;
  /** Customer-managed key for SSE-KMS on the image bucket. */
  readonly key: kms.Key;
  /** Receives the image bucket's server access logs. */
  readonly accessLogBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ImageStoreProps = {}) {
    super(scope, id);
    const tieringDays = props.intelligentTieringAfterDays ?? 0;
    const noncurrentDays = props.noncurrentVersionExpirationDays ?? 30;
    if (!Number.isInteger(tieringDays) || tieringDays < 0) {
      throw new Error(`${this.node.path}: intelligentTieringAfterDays must be a whole number of days >= 0, got ${tieringDays}`);
    }
    if (!Number.isInteger(noncurrentDays) || noncurrentDays < 1) {
      throw new Error(`${this.node.path}: noncurrentVersionExpirationDays must be a whole number of days >= 1, got ${noncurrentDays}`);
    }

    this.key = new kms.Key(this, 'Key', {
      description: 'DICOM destination: image objects (SSE-KMS)',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Access-log delivery supports only SSE-S3 on the target bucket, not SSE-KMS.
    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bucket = new s3.Bucket(this, 'Images', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // One data key per bucket instead of one KMS call per object: cheaper and fewer throttles.
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'images/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'intelligent-tiering',
          transitions: [{ storageClass: s3.StorageClass.INTELLIGENT_TIERING, transitionAfter: Duration.days(tieringDays) }],
        },
        // The listener aborts failed uploads itself; this catches the ones a crash leaves behind.
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(noncurrentDays) },
      ],
    });

    acknowledge(this.bucket,
      'Cross-region replication is a per-site disaster-recovery choice (region of residence for PHI); '
      + 'the bucket is versioned and retained, and the sending PACS keeps its copy until it gets Success.',
      'HIPAA.Security-S3BucketReplicationEnabled');
    acknowledge(this.accessLogBucket,
      'Holds only the image bucket\'s S3 server access logs, no image data; replicating them would add cost '
      + 'without protecting any PHI.',
      'HIPAA.Security-S3BucketReplicationEnabled');
    acknowledge(this.accessLogBucket,
      'S3 server access log delivery only supports SSE-S3 on the destination bucket; SSE-KMS would drop the logs.',
      'HIPAA.Security-S3DefaultEncryptionKMS');
  }
}
