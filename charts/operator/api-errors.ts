import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a client-node error (ApiException from API calls, `statusCode` from watches). */
export function httpStatus(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const candidate = error as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof candidate?.statusCode === 'number') return candidate.statusCode;
  return typeof candidate?.code === 'number' ? candidate.code : undefined;
}
