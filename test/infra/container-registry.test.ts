import { App, Stack } from 'aws-cdk-lib';
import { beforeAll, describe, expect, test } from 'vitest';
import { ListenerRepository } from '../../infra/container-registry.ts';
import { resourceOf, synthesize, type SynthesizedStack } from './stack-fixture.ts';

describe('listener image repository', () => {
  let built: SynthesizedStack;

  beforeAll(() => {
    // GIVEN a stack keeping at most 25 images
    built = synthesize({ ecrMaxImageCount: 25 });
  });

  test('every push is scanned and tags are immutable', () => {
    // WHEN the repository is read / THEN scan on push and tag immutability are on
    const properties = resourceOf(built.template, built.stack.repository.repository).Properties;
    expect({ scan: properties.ImageScanningConfiguration, tags: properties.ImageTagMutability, name: properties.RepositoryName }).toEqual({
      scan: { ScanOnPush: true },
      tags: 'IMMUTABLE',
      name: 'dicom-destination/test/listener',
    });
  });

  test('the lifecycle expires untagged images after 14 days and keeps the newest images up to the configured count', () => {
    // WHEN the lifecycle policy is read
    const policy = resourceOf(built.template, built.stack.repository.repository).Properties.LifecyclePolicy as { LifecyclePolicyText: string };

    // THEN it has exactly the two rules
    expect(JSON.parse(policy.LifecyclePolicyText).rules).toEqual([
      {
        rulePriority: 1,
        description: 'Drop untagged layers left by failed or superseded pushes',
        selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 14, countUnit: 'days' },
        action: { type: 'expire' },
      },
      {
        rulePriority: 2,
        description: 'Keep the newest 25 images',
        selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 25 },
        action: { type: 'expire' },
      },
    ]);
  });

  test('the repository survives stack deletion', () => {
    // WHEN the deletion policy is read / THEN the repository is retained
    expect(resourceOf(built.template, built.stack.repository.repository).DeletionPolicy).toBe('Retain');
  });

  test('a non-positive image count is rejected', () => {
    // GIVEN a bare stack
    const stack = new Stack(new App(), 'Bare');

    // WHEN a repository keeps zero images / THEN the construct refuses it
    expect(() => new ListenerRepository(stack, 'Repository', { repositoryName: 'listener', maxImageCount: 0 }))
      .toThrow(/maxImageCount must be a positive integer, got 0/);
  });
});
