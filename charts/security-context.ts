import type { ISecurityContext } from 'kubernetes-models/v1/SecurityContext';

/**
 * The container security context every workload here runs with: Fargate's and the Pod Security
 * "restricted" profile's rules (non-root by number, read-only root, no privilege, no
 * capabilities, the runtime's seccomp profile).
 */
export function restrictedSecurityContext(userId: number): ISecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: userId,
    runAsGroup: userId,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
