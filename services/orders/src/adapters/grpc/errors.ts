import type { grpc } from '@shop/platform';
import { grpcError, grpcHandlers, Status } from '@shop/platform';
import type { Logger } from '@shop/platform';
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

export const ordersGrpcHandlers = (logger: Logger) =>
  grpcHandlers({
    logger,
    errorType: DomainError,
    statusOf: GRPC_STATUS_OF,
    // PostgreSQL down, restarting or out of connections: transient, the caller may retry (the gateway answers 503
    // with Retry-After). Nothing was committed: every use case writes in one unit of work.
    transient: grpcError(Status.UNAVAILABLE, 'the orders database is unavailable, retry later'),
  });
