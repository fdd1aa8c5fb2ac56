import { AuthError, authGrpcError } from './auth';
import type { grpc, GrpcError } from './grpc';
import { grpcError, invalidArgument, Status } from './grpc';
import type { Logger } from './logger';
import { errorMessage, isTransient } from './retry';

/** The shape of every service's DomainError: a stable code, a message, and the fields a caller got wrong. */
export interface CodedError {
  readonly code: string;
  readonly message: string;
  readonly violations: readonly { field: string; description: string }[];
}

export interface GrpcHandlerOptions<E extends CodedError> {
  /** Logs the failures that are the service's own fault (INTERNAL), with the method. */
  logger: Logger;
  /** The service's DomainError class: its instances are answered with their mapped status, anything else INTERNAL. */
  errorType: abstract new (...args: never[]) => E;
  /** The one table of this service from domain error code to gRPC status. */
  statusOf: Record<E['code'], grpc.status>;
  /**
   * What a transient infrastructure failure (`isTransient`: the database down or out of connections) is answered
   * with; unset: INTERNAL, like any other unexpected error.
   */
  transient?: GrpcError;
}

/**
 * The gRPC plumbing of a backend in one place: a domain error becomes its mapped status (INVALID_ARGUMENT carries
 * every violation in grpc-status-details-bin), a transient failure the `transient` answer, anything else INTERNAL
 * with the details logged here and never sent to the caller.
 */
export function grpcHandlers<E extends CodedError>(opts: GrpcHandlerOptions<E>) {
  function toGrpcError(err: unknown): GrpcError {
    if (err instanceof AuthError) return authGrpcError(err);
    if (err instanceof opts.errorType) {
      const code: grpc.status = opts.statusOf[err.code as E['code']];
      return code === Status.INVALID_ARGUMENT && err.violations.length > 0
        ? invalidArgument([...err.violations])
        : grpcError(code, err.message);
    }
    if (opts.transient && isTransient(err)) return opts.transient;
    return grpcError(Status.INTERNAL, 'internal error');
  }

  function failed(method: string, err: unknown): GrpcError {
    const e = toGrpcError(err);
    if (e.code === Status.INTERNAL)
      opts.logger.error(
        { method, err: errorMessage(err), stack: (err as Error | undefined)?.stack, code: 'INTERNAL' },
        'gRPC call failed',
      );
    return e;
  }

  /** A promise-returning use case as a grpc-js unary handler (the call gives it the metadata: the caller's token). */
  function unary<Req, Res>(
    method: string,
    fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      fn(call.request, call).then(
        (res) => callback(null, res),
        (err: unknown) => callback(failed(method, err)),
      );
    };
  }

  return { unary, failed, toGrpcError };
}
