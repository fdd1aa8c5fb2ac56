import type { grpc, GrpcError } from '@shop/platform';
import { grpcError, invalidArgument, isTransient, Status } from '@shop/platform';
import type { DomainErrorCode } from '../../domain/errors';
import { DomainError } from '../../domain/errors';

/** The one table mapping domain error codes to gRPC status codes. */
export const GRPC_STATUS_OF: Record<DomainErrorCode, grpc.status> = {
  VALIDATION_FAILED: Status.INVALID_ARGUMENT,
  ORDER_NOT_FOUND: Status.NOT_FOUND,
  ORDER_INVALID_TRANSITION: Status.FAILED_PRECONDITION,
  // The gateway maps ALREADY_EXISTS to 422 (same key, different body).
  IDEMPOTENCY_KEY_REUSED: Status.ALREADY_EXISTS,
  INVENTORY_UNAVAILABLE: Status.UNAVAILABLE,
  INVENTORY_QUOTE_INVALID: Status.INTERNAL,
  TOO_MANY_WATCHERS: Status.RESOURCE_EXHAUSTED,
};

export function toGrpcError(err: unknown): GrpcError {
  if (err instanceof DomainError) {
    if (err.code === 'VALIDATION_FAILED') return invalidArgument(err.violations);
    return grpcError(GRPC_STATUS_OF[err.code], err.message);
  }
  // PostgreSQL down, restarting or out of connections: transient, the caller may retry (the gateway answers 503
  // with Retry-After). Nothing was committed: every use case writes in one transaction.
  if (isTransient(err))
    return grpcError(Status.UNAVAILABLE, 'the orders database is unavailable, retry later');
  return grpcError(Status.INTERNAL, 'internal error');
}
