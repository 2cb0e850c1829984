import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';

export interface ArgoCdApplicationProps {
  /** Application name, unique in Argo CD's namespace. */
  readonly name: string;
  /** Git repository holding the rendered manifests. */
  readonly repoUrl: string;
  /** Folder of plain manifests inside the repository, e.g. `k8s/example`. */
  readonly path: string;
  /**
   * Branch, tag or commit to sync.
   * @default 'main'
   */
  readonly targetRevision?: string;
  /**
   * Argo CD project.
   * @default 'default'
   */
  readonly project?: string;
  /**
   * Namespace Argo CD watches for Applications.
   * @default 'argocd'
   */
  readonly namespace?: string;
  /**
   * API server of the cluster to deploy to.
   * @default 'https://kubernetes.default.svc' (the cluster Argo CD runs in)
   */
  readonly destinationServer?: string;
}

/**
 * An Argo CD Application that syncs a folder of plain, already rendered manifests (a "directory"
 * source: no Helm or Kustomize). It lives outside that folder so it never manages itself.
 */
export class ArgoCdApplication extends Construct {
  constructor(scope: Construct, id: string, props: ArgoCdApplicationProps) {
    super(scope, id);
    const owner = `ArgoCdApplication ${this.node.path}`;
    if (!/^(https:\/\/|ssh:\/\/|git@)\S+$/.test(props.repoUrl)) {
      throw new Error(`${owner}: repoUrl must be an https, ssh or git@ URL, got "${props.repoUrl}"`);
    }
    if (props.path.startsWith('/') || props.path.split('/').includes('..')) {
      throw new Error(`${owner}: path must be relative to the repository root, got "${props.path}"`);
    }

    new ApiObject(this, 'Resource', {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: props.name, namespace: props.namespace ?? 'argocd' },
      spec: {
        project: props.project ?? 'default',
        source: {
          repoURL: props.repoUrl,
          targetRevision: props.targetRevision ?? 'main',
          path: props.path,
          directory: { recurse: false, include: '*.yaml' },
        },
        // Every manifest names its namespace; the Application sets none so nothing lands in a default.
        destination: { server: props.destinationServer ?? 'https://kubernetes.default.svc' },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          // Server-side apply avoids the 256 KiB last-applied annotation and merges fields the
          // cluster owns (the HPA's replicas, the controller's load balancer status).
          syncOptions: ['ServerSideApply=true', 'PruneLast=true'],
        },
      },
    });
  }
}
