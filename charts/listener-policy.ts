import { stringify } from 'yaml';

/**
 * The part of the listener's policy file (`DICOM_POLICY_FILE`) the chart renders. Per-AE fields the
 * chart leaves out (calling AEs, source CIDRs, storage URL, key template) fall back to the listener's env.
 */
export interface ListenerPolicy {
  readonly aeTitles: readonly { readonly aeTitle: string }[];
  readonly maxAssociationsPerCallingAe?: number;
}

export function renderListenerPolicy(policy: ListenerPolicy): string {
  return stringify(policy, { lineWidth: 0 });
}
