import { messagingV1, ordersV1, outgoingMessage, type Payload } from '@shop/contracts';
import type { OutboxMessage } from '@shop/platform';
import type { Order } from '../domain/order';
import type { OrderEvent, SagaCommand } from '../domain/saga';

const { ReleaseReason } = messagingV1;

function releaseReason(o: Order): messagingV1.ReleaseReason {
  if (o.status === 'CANCELLED') return ReleaseReason.RELEASE_REASON_CUSTOMER_REQUEST;
  if (o.rejectionReason === 'PAYMENT_DECLINED') return ReleaseReason.RELEASE_REASON_PAYMENT_DECLINED;
  if (o.rejectionReason === 'TIMEOUT') return ReleaseReason.RELEASE_REASON_TIMEOUT;
  return ReleaseReason.RELEASE_REASON_UNSPECIFIED;
}

export const REJECTION_REASON_PROTO = {
  OUT_OF_STOCK: ordersV1.RejectionReason.REJECTION_REASON_OUT_OF_STOCK,
  PAYMENT_DECLINED: ordersV1.RejectionReason.REJECTION_REASON_PAYMENT_DECLINED,
  TIMEOUT: ordersV1.RejectionReason.REJECTION_REASON_TIMEOUT,
} as const;

/** The Kafka payload of a saga command or an order event, built from the order's current state. */
export function payloadOf(what: SagaCommand | OrderEvent | 'OrderPlaced', o: Order): Payload {
  const orderId = o.id;
  switch (what) {
    case 'ReserveStock':
      return {
        $case: 'reserveStock',
        value: { orderId, items: o.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })) },
      };
    case 'AuthorizePayment':
      return {
        $case: 'authorizePayment',
        value: { orderId, customerId: o.customerId, amountCents: o.totalCents, currency: o.currency },
      };
    case 'CommitStock':
      return { $case: 'commitStock', value: { orderId } };
    case 'ReleaseStock':
      return { $case: 'releaseStock', value: { orderId, reason: releaseReason(o) } };
    case 'RefundPayment':
      return { $case: 'refundPayment', value: { orderId } };
    case 'OrderPlaced':
      return {
        $case: 'orderPlaced',
        value: { orderId, customerId: o.customerId, totalCents: o.totalCents, currency: o.currency },
      };
    case 'OrderApproved':
      return { $case: 'orderApproved', value: { orderId } };
    case 'OrderRejected':
      return {
        $case: 'orderRejected',
        value: {
          orderId,
          reason: o.rejectionReason
            ? REJECTION_REASON_PROTO[o.rejectionReason]
            : ordersV1.RejectionReason.REJECTION_REASON_UNSPECIFIED,
        },
      };
    case 'OrderCancelled':
      return { $case: 'orderCancelled', value: { orderId } };
  }
}

/** Outbox rows for commands/events, keyed by order id, caused by `causationId` (the message being handled). */
export function outboxMessages(
  whats: (SagaCommand | OrderEvent | 'OrderPlaced')[],
  o: Order,
  causationId?: string,
): OutboxMessage[] {
  return whats.map((w) => outgoingMessage(payloadOf(w, o), causationId ? { causationId } : {}));
}
