/**
 * Argo CD sync waves: a wave is applied, and must be healthy, before the next one starts.
 * Namespaces, identities and configuration come first so workloads never start without them.
 * @see https://argo-cd.readthedocs.io/en/stable/user-guide/sync-waves/
 */
export const SyncWave = {
  FOUNDATION: -1,
  WORKLOAD: 0,
} as const;

export type SyncWave = (typeof SyncWave)[keyof typeof SyncWave];

export const SYNC_WAVE_ANNOTATION = 'argocd.argoproj.io/sync-wave';

export function syncWave(wave: SyncWave): Record<string, string> {
  return { [SYNC_WAVE_ANNOTATION]: String(wave) };
}
