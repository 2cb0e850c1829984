import { App, Stack } from 'aws-cdk-lib';
import { beforeAll, describe, expect, test } from 'vitest';
import { ImageRepository } from '../../infra/container-registry.ts';
import { logicalId, resourceOf, synthesize, type SynthesizedStack } from './stack-fixture.ts';

describe('listener image repository', () => {
  let built: SynthesizedStack;

  beforeAll(() => {
    // GIVEN a stack keeping at most 25 images
    built = synthesize({ ecrMaxImageCount: 25 });
  });

  test('every push is scanned and tags are immutable', () => {
    // WHEN the repository is read / THEN scan on push and tag immutability are on
    const properties = resourceOf(built.template, built.stack.listenerRepository.repository).Properties;
    expect({ scan: properties.ImageScanningConfiguration, tags: properties.ImageTagMutability, name: properties.RepositoryName }).toEqual({
      scan: { ScanOnPush: true },
      tags: 'IMMUTABLE',
      name: 'dicom-destination/test/listener',
    });
  });

  test('the lifecycle expires untagged images after 14 days and keeps the newest images up to the configured count', () => {
    // WHEN the lifecycle policy is read
    const policy = resourceOf(built.template, built.stack.listenerRepository.repository).Properties.LifecyclePolicy as { LifecyclePolicyText: string };

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
    expect(resourceOf(built.template, built.stack.listenerRepository.repository).DeletionPolicy).toBe('Retain');
  });

  test('a non-positive image count is rejected', () => {
    // GIVEN a bare stack
    const stack = new Stack(new App(), 'Bare');

    // WHEN a repository keeps zero images / THEN the construct refuses it
    expect(() => new ImageRepository(stack, 'Repository', { repositoryName: 'listener', maxImageCount: 0 }))
      .toThrow(/maxImageCount must be a positive integer, got 0/);
  });
});

describe('controller image repository', () => {
  let built: SynthesizedStack;

  beforeAll(() => {
    // GIVEN a stack keeping at most 25 images
    built = synthesize({ ecrMaxImageCount: 25 });
  });

  test('it is built with the listener repository\'s settings', () => {
    // WHEN both repositories are read without their names
    const settings = (repository: typeof built.stack.listenerRepository) => {
      const { Properties: { RepositoryName: _name, ...properties }, ...resource } = resourceOf(built.template, repository.repository);
      return { ...resource, Properties: properties };
    };

    // THEN scanning, tag immutability, lifecycle and retention are the same
    expect(settings(built.stack.controllerRepository)).toEqual(settings(built.stack.listenerRepository));
  });

  test('it has its own name', () => {
    // WHEN the repository name is read / THEN it is the controller default, next to the listener's
    expect(resourceOf(built.template, built.stack.controllerRepository.repository).Properties.RepositoryName).toBe('dicom-destination/test/controller');
  });

  test('a configured name is used', () => {
    // GIVEN a config naming the controller repository
    const named = synthesize({ controllerEcrRepositoryName: 'platform/dicom-controller' });

    // WHEN the repository name is read / THEN it is the configured one
    expect(resourceOf(named.template, named.stack.controllerRepository.repository).Properties.RepositoryName).toBe('platform/dicom-controller');
  });

  test('the listener repository keeps its logical ID, so a deployed stack updates it in place', () => {
    // WHEN the logical ID is read / THEN it is the one deployed before the controller repository was added
    expect(logicalId(built.stack.listenerRepository.repository)).toBe('ListenerRepositoryDAC922FA');
  });
});
