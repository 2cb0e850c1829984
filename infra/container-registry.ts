import { Duration, RemovalPolicy, aws_ecr as ecr } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/** Properties of an {@link ImageRepository}. */
export interface ImageRepositoryProps {
  readonly repositoryName: string;
  /**
   * Images kept; older ones expire.
   *
   * @default 100
   */
  readonly maxImageCount?: number;
}

/**
 * An ECR repository for one of the images the stack runs (the listener, the operator's controller).
 *
 * Tags are immutable so a tag in a chart environment always means the same bytes, and every
 * push is scanned.
 */
export class ImageRepository extends Construct {
  readonly repository: ecr.Repository;

  constructor(scope: Construct, id: string, props: ImageRepositoryProps) {
    super(scope, id);
    const maxImageCount = props.maxImageCount ?? 100;
    if (!Number.isInteger(maxImageCount) || maxImageCount < 1) {
      throw new Error(`${this.node.path}: maxImageCount must be a positive integer, got ${maxImageCount}`);
    }

    this.repository = new ecr.Repository(this, 'Repository', {
      repositoryName: props.repositoryName,
      imageScanOnPush: true,
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { rulePriority: 1, description: 'Drop untagged layers left by failed or superseded pushes', tagStatus: ecr.TagStatus.UNTAGGED, maxImageAge: Duration.days(14) },
        { rulePriority: 2, description: `Keep the newest ${maxImageCount} images`, tagStatus: ecr.TagStatus.ANY, maxImageCount },
      ],
    });
  }
}
