/** Kubernetes recommended labels, shared by every object of one component. */
export function recommendedLabels(name: string, component: string, instance: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/instance': instance,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'dicom-destination',
    'app.kubernetes.io/managed-by': 'cdk8s',
  };
}

/** The immutable subset a Deployment selects its pods by (a selector can never change after creation). */
export function selectorLabels(name: string, instance: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/instance': instance };
}
