import {
  InstanceTooLargeError,
  IntegrityError,
  MalformedDataSetError,
  SopClassMismatchError,
  SopClassNotSupportedError,
  SopInstanceMismatchError,
  StorageUnavailableError,
  TransferInterruptedError,
} from './errors.ts';

/** C-STORE statuses this listener returns (PS3.4 B.2.3, PS3.7 C). */
export const Status = {
  Success: 0x0000,
  ProcessingFailure: 0x0110,
  SopClassNotSupported: 0x0122,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
  SopInstanceMismatch: 0xc001,
} as const;

export interface Outcome {
  readonly status: number;
  /** PS3.7 Error Comment (0000,0902): at most 64 characters, no PHI. */
  readonly comment: string | undefined;
  /** Bounded label for metrics and logs. */
  readonly reason: string;
}

/**
 * The one table from failure to DIMSE status, mirrored in docs/conformance-statement.md.
 *
 * | cause                                                      | status |
 * |------------------------------------------------------------|--------|
 * | stored and verified                                        | 0x0000 |
 * | storage unreachable, throttled beyond retries, disk full   | 0xA700 |
 * | stored bytes fail the end-to-end checksum                  | 0xA700 |
 * | instance larger than DICOM_MAX_INSTANCE_SIZE_MIB           | 0xA700 |
 * | association ended mid-instance (never answered in practice) | 0xA700 |
 * | command's SOP Class is not its presentation context's       | 0x0122 |
 * | SOP Class in the data set differs from the command         | 0xA900 |
 * | data set truncated, corrupt, or not parseable far enough to name the object | 0xC000 |
 * | SOP Instance UID in the data set differs from the command  | 0xC001 |
 * | anything unexpected                                        | 0x0110 |
 */
export function outcomeFor(error: unknown): Outcome {
  if (error instanceof StorageUnavailableError) return failure(Status.OutOfResources, 'storage-unavailable', 'Storage unavailable; retry later');
  if (error instanceof IntegrityError) return failure(Status.OutOfResources, 'integrity', 'Storage checksum mismatch; retry later');
  if (error instanceof InstanceTooLargeError) return failure(Status.OutOfResources, 'too-large', 'Instance exceeds the configured maximum size');
  if (error instanceof TransferInterruptedError) return failure(Status.OutOfResources, 'interrupted', 'Transfer interrupted');
  if (error instanceof SopClassNotSupportedError) return failure(Status.SopClassNotSupported, 'sop-class-not-supported', 'SOP Class differs from the presentation context');
  if (error instanceof SopClassMismatchError) return failure(Status.DataSetDoesNotMatchSopClass, 'sop-class-mismatch', 'SOP Class in data set differs from command');
  if (error instanceof MalformedDataSetError) return failure(Status.CannotUnderstand, 'malformed', 'Data set header cannot be parsed');
  if (error instanceof SopInstanceMismatchError) return failure(Status.SopInstanceMismatch, 'sop-instance-mismatch', 'SOP Instance UID in data set differs from command');
  return failure(Status.ProcessingFailure, 'internal', 'Internal error');
}

export const SUCCESS: Outcome = { status: Status.Success, comment: undefined, reason: 'stored' };

function failure(status: number, reason: string, comment: string): Outcome {
  return { status, comment, reason };
}

export function statusHex(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}
