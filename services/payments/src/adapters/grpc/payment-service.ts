import { paymentsV1, ServiceNames } from '@shop/contracts';
import type { Authenticator, BackendContext, GrpcServerOptions, Identity } from '@shop/platform';
import { AuthError, grpc, grpcCaller, grpcHandlers } from '@shop/platform';
import { getAccount } from '../../app/get-account';
import { listPayments } from '../../app/list-payments';
import type { DomainErrorCode } from '../../domain/errors';
import { DomainError } from '../../domain/errors';
import type { Payment, PaymentStatus } from '../../domain/payment';
import { authorizedCents } from '../../domain/payment';

/** The one table mapping domain error codes to gRPC status codes. */
const GRPC_STATUS_OF: Record<DomainErrorCode, grpc.status> = {
  VALIDATION_FAILED: grpc.status.INVALID_ARGUMENT,
  ACCOUNT_NOT_FOUND: grpc.status.NOT_FOUND,
  PAYMENT_INVALID_TRANSITION: grpc.status.FAILED_PRECONDITION,
};

const STATUS_ENUM: Record<PaymentStatus, paymentsV1.PaymentStatus> = {
  AUTHORIZED: paymentsV1.PaymentStatus.PAYMENT_STATUS_AUTHORIZED,
  DECLINED: paymentsV1.PaymentStatus.PAYMENT_STATUS_DECLINED,
  REFUNDED: paymentsV1.PaymentStatus.PAYMENT_STATUS_REFUNDED,
};

const toProto = (p: Payment): paymentsV1.Payment => ({
  id: p.id,
  orderId: p.orderId,
  customerId: p.customerId,
  amountCents: p.amountCents,
  currency: p.currency,
  status: STATUS_ENUM[p.status],
  createdAt: p.createdAt,
});

/**
 * The gRPC PaymentService, authenticated by the caller's access token (`authorization` metadata, forwarded by the
 * gateway): UNAUTHENTICATED without a valid one; a customer reads only its own payments and account (another
 * customer's id: PERMISSION_DENIED; an order filter matches only its own payments); an operator reads everyone's.
 */
export function paymentGrpcService(
  ctx: BackendContext,
  auth: Authenticator,
): GrpcServerOptions['services'][number] {
  const { unary } = grpcHandlers({ logger: ctx.logger, errorType: DomainError, statusOf: GRPC_STATUS_OF });
  /** The customer id a customer's call is scoped to: its own (empty means its own, another is forbidden). */
  const scoped = (caller: Identity | undefined, given: string): string => {
    if (!caller || caller.operator) return given;
    if (given !== '' && given !== caller.customerId) {
      auth.refused('forbidden');
      throw new AuthError('forbidden');
    }
    return caller.customerId;
  };
  const implementation: paymentsV1.PaymentServiceServer = {
    listPayments: unary('ListPayments', async (req: paymentsV1.ListPaymentsRequest, call) => {
      const caller = await grpcCaller(auth, call.metadata);
      const customerId = scoped(caller, req.customerId);
      const payments = await listPayments(ctx.pool, { orderId: req.orderId, customerId });
      return { payments: payments.map(toProto) };
    }),
    getAccount: unary('GetAccount', async (req: paymentsV1.GetAccountRequest, call) => {
      const caller = await grpcCaller(auth, call.metadata);
      const account = await getAccount(ctx.pool, scoped(caller, req.customerId));
      return {
        account: {
          customerId: account.customerId,
          creditLimitCents: account.creditLimitCents,
          availableCents: account.availableCents,
          authorizedCents: authorizedCents(account),
        },
      };
    }),
  };
  return { name: ServiceNames.payments, definition: paymentsV1.PaymentServiceService, implementation };
}
