import { stringify } from 'yaml';

/**
 * One local AE title in the listener's policy file. Fields left out fall back to the listener's
 * env (`DICOM_ALLOWED_CALLING_AE_TITLES`, `DICOM_ALLOWED_SOURCE_CIDRS`, `STORAGE_URL`, `STORAGE_KEY_TEMPLATE`).
 */
export interface CalledAePolicy {
  readonly aeTitle: string;
  /** Calling AE titles allowed to associate with this AE title; empty allows any. */
  readonly allowedCallingAeTitles?: readonly string[];
  /** Where this AE title's instances go (`s3://bucket/prefix`). */
  readonly storageUrl?: string;
  /** Object key template of this AE title's instances. */
  readonly keyTemplate?: string;
}

/** The part of the listener's policy file (`DICOM_POLICY_FILE`) the chart renders. */
export interface ListenerPolicy {
  readonly aeTitles: readonly CalledAePolicy[];
  readonly maxAssociationsPerCallingAe?: number;
}

export function renderListenerPolicy(policy: ListenerPolicy): string {
  return stringify(policy, { lineWidth: 0 });
}
