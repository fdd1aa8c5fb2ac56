import { paymentsV1, ServiceNames } from '@shop/contracts';
import type { BackendContext, GrpcServerOptions } from '@shop/platform';
import { grpc, grpcHandlers } from '@shop/platform';
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

export function paymentGrpcService(ctx: BackendContext): GrpcServerOptions['services'][number] {
  const { unary } = grpcHandlers({ logger: ctx.logger, errorType: DomainError, statusOf: GRPC_STATUS_OF });
  const implementation: paymentsV1.PaymentServiceServer = {
    listPayments: unary('ListPayments', async (req: paymentsV1.ListPaymentsRequest) => {
      const payments = await listPayments(ctx.pool, { orderId: req.orderId, customerId: req.customerId });
      return { payments: payments.map(toProto) };
    }),
    getAccount: unary('GetAccount', async (req: paymentsV1.GetAccountRequest) => {
      const account = await getAccount(ctx.pool, req.customerId);
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
