export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** Every standard Storage SOP Class sits under this root (PS3.4 Annex B, PS3.6 Annex A). */
const STORAGE_ROOT = '1.2.840.10008.5.1.4.1.1.';

/** Standard storage SOP classes registered outside the common root. */
const OTHER_STORAGE_SOP_CLASSES = new Set([
  '1.2.840.10008.5.1.4.34.7', // RT Beams Delivery Instruction Storage
  '1.2.840.10008.5.1.4.34.10', // RT Patient Position Acquisition Instruction Storage
  '1.2.840.10008.5.1.4.38.1', // Hanging Protocol Storage
  '1.2.840.10008.5.1.4.39.1', // Color Palette Storage
  '1.2.840.10008.5.1.4.43.1', // Generic Implant Template Storage
  '1.2.840.10008.5.1.4.44.1', // Implant Assembly Template Storage
  '1.2.840.10008.5.1.4.45.1', // Implant Template Group Storage
]);

/** Query/Retrieve models that PS3.4 registers under the storage root; they are not storage. */
const NON_STORAGE_UNDER_STORAGE_ROOT = new Set([
  '1.2.840.10008.5.1.4.1.1.200.4', // Protocol Approval Information Model - FIND
  '1.2.840.10008.5.1.4.1.1.200.5', // Protocol Approval Information Model - MOVE
  '1.2.840.10008.5.1.4.1.1.200.6', // Protocol Approval Information Model - GET
]);

const UID = /^(0|[1-9]\d*)(\.(0|[1-9]\d*))+$/;

export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && UID.test(uid);
}

export function isStandardStorageSopClass(uid: string): boolean {
  return (uid.startsWith(STORAGE_ROOT) && isValidUid(uid) && !NON_STORAGE_UNDER_STORAGE_ROOT.has(uid)) || OTHER_STORAGE_SOP_CLASSES.has(uid);
}

/**
 * Abstract syntaxes that are DICOM services other than storage (Q/R, worklist, print,
 * commitment...). An SCP that accepts unknown SOP classes must still refuse these, because
 * accepting them would promise a service this listener does not implement.
 */
export function isNonStorageServiceClass(uid: string): boolean {
  return uid.startsWith('1.2.840.10008.') && !isStandardStorageSopClass(uid);
}
