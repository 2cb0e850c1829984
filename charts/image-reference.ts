/** Docker reference grammar, restricted to a private ECR registry host. */
const ECR_REPOSITORY = /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Checks that `image` is `<ecr repository>:<tag>`, `<ecr repository>@sha256:<digest>` or both, and
 * is pinned: a rollout must run exactly the bytes that were tested, so `:latest` and untagged
 * references are refused. Returns the reason it is not acceptable, or `undefined` when it is.
 */
export function ecrImageProblem(image: string): string | undefined {
  const at = image.indexOf('@');
  const nameAndTag = at === -1 ? image : image.slice(0, at);
  const digest = at === -1 ? undefined : image.slice(at + 1);
  const colon = nameAndTag.lastIndexOf(':');
  const hasTag = colon > nameAndTag.lastIndexOf('/');
  const repository = hasTag ? nameAndTag.slice(0, colon) : nameAndTag;
  const tag = hasTag ? nameAndTag.slice(colon + 1) : undefined;
  if (!ECR_REPOSITORY.test(repository)) {
    return `must be an ECR repository URI (<account>.dkr.ecr.<region>.amazonaws.com/<repository>), got "${repository}"`;
  }
  if (digest !== undefined && !DIGEST.test(digest)) return `digest must be sha256:<64 hex digits>, got "${digest}"`;
  if (tag !== undefined && !TAG.test(tag)) return `tag "${tag}" is not a valid image tag`;
  if (tag === 'latest') return 'must not use the mutable tag "latest"; use an immutable tag or a digest';
  if (tag === undefined && digest === undefined) return 'has no tag or digest; pin an immutable tag or an @sha256 digest';
  return undefined;
}
