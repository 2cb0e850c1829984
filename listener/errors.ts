/**
 * Failures a C-STORE can meet. Each class maps to exactly one DIMSE status in `status.ts`;
 * components throw these and never decide a status themselves.
 */
export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError';
}

export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
}

export class InstanceTooLargeError extends Error {
  override readonly name = 'InstanceTooLargeError';
}

export class MalformedDataSetError extends Error {
  override readonly name = 'MalformedDataSetError';
}

/** The command names a SOP Class other than its presentation context's abstract syntax. */
export class SopClassNotSupportedError extends Error {
  override readonly name = 'SopClassNotSupportedError';
}

export class SopClassMismatchError extends Error {
  override readonly name = 'SopClassMismatchError';
}

export class SopInstanceMismatchError extends Error {
  override readonly name = 'SopInstanceMismatchError';
}

/** The association ended (release, abort, dropped connection or drain) before the instance completed. */
export class TransferInterruptedError extends Error {
  override readonly name = 'TransferInterruptedError';
}
