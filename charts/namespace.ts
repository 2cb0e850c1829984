import { ApiObject } from 'cdk8s';
import type { Construct } from 'constructs';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import { SyncWave, syncWave } from './sync-wave.ts';

/**
 * A Namespace in the first sync wave that Argo CD never prunes: deleting it would also delete what
 * Argo CD does not manage inside it, such as the listener's TLS Secret.
 */
export function createNamespace(scope: Construct, id: string, name: string, labels: Record<string, string> = {}): ApiObject {
  const namespace: INamespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels,
      annotations: { ...syncWave(SyncWave.FOUNDATION), 'argocd.argoproj.io/sync-options': 'Prune=false' },
    },
  };
  return new ApiObject(scope, id, namespace);
}
