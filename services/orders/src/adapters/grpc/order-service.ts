import { ordersV1 } from '@shop/contracts';
import * as rules from '@shop/contracts/rules';
import type { Authenticator, Identity } from '@shop/platform';
import { AuthError, grpcCaller } from '@shop/platform';
import type { Order, OrderStatus } from '../../domain/order';
import type { AppDeps } from '../../app/deps';
import { cancelOrder } from '../../app/cancel-order';
import { getOrder } from '../../app/get-order';
import { listOrders } from '../../app/list-orders';
import { placeOrder } from '../../app/place-order';
import { holdUntilDecided } from '../../app/placement-modes';
import { watchOrder } from '../../app/watch-order';
import { REJECTION_REASON_PROTO } from '../../app/messages';
import { ordersGrpcHandlers } from './errors';

const { OrderStatus: PS } = ordersV1;

const STATUS_PROTO: Record<OrderStatus, ordersV1.OrderStatus> = {
  PENDING: PS.ORDER_STATUS_PENDING,
  APPROVED: PS.ORDER_STATUS_APPROVED,
  REJECTED: PS.ORDER_STATUS_REJECTED,
  CANCELLED: PS.ORDER_STATUS_CANCELLED,
};

/** Proto status to domain status; null for UNSPECIFIED ("any"), the raw number for anything unknown. */
function statusFilter(s: ordersV1.OrderStatus): string | null {
  if (s === PS.ORDER_STATUS_UNSPECIFIED) return null;
  const found = (Object.keys(STATUS_PROTO) as OrderStatus[]).find((k) => STATUS_PROTO[k] === s);
  return found ?? String(s);
}

export function toProto(o: Order): ordersV1.Order {
  return {
    id: o.id,
    customerId: o.customerId,
    lines: o.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPriceCents: l.unitPriceCents })),
    totalCents: o.totalCents,
    currency: o.currency,
    status: STATUS_PROTO[o.status],
    rejectionReason: o.rejectionReason
      ? REJECTION_REASON_PROTO[o.rejectionReason]
      : ordersV1.RejectionReason.REJECTION_REASON_UNSPECIFIED,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
    version: o.version,
    traceId: o.traceId ?? '',
  };
}

/**
 * The gRPC OrderService. Every call is authenticated by the caller's own access token (the gateway forwards it as
 * `authorization` metadata): UNAUTHENTICATED without a valid one, PERMISSION_DENIED when a customer names another
 * customer, NOT_FOUND for another customer's order. An operator reads, lists and cancels every order.
 */
export function orderService(deps: AppDeps, auth: Authenticator): ordersV1.OrderServiceServer {
  const hub = deps.changes;
  const { unary, failed } = ordersGrpcHandlers(deps.logger);
  const forbid = (reason: 'forbidden' | 'operator_only') => {
    auth.refused(reason);
    return new AuthError(reason);
  };
  /**
   * The customer a call names, held to the caller: empty means the caller's own; another well-formed id is
   * PERMISSION_DENIED (an operator may list anyone's); a malformed one is left for validation (INVALID_ARGUMENT).
   */
  const ownCustomer = (caller: Identity | undefined, given: string, operatorMayName: boolean): string => {
    // An operator's listing names its customer, or all_customers (issue 12: empty never means everyone).
    if (!caller || (operatorMayName && caller.operator)) return given;
    if (given === '' || given === caller.customerId) return caller.customerId;
    if (rules.checkString(rules.CUSTOMER_ID, given) !== undefined) return given;
    throw forbid('forbidden');
  };
  return {
    placeOrder: unary('PlaceOrder', async (req: ordersV1.PlaceOrderRequest, call) => {
      const caller = await grpcCaller(auth, call.metadata);
      // Orders are placed for the caller alone (an operator too); empty: the caller's own id.
      const r = await placeOrder(deps, {
        customerId: ownCustomer(caller, req.customerId, false),
        items: req.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
        ...(req.idempotencyKey !== '' ? { idempotencyKey: req.idempotencyKey } : {}),
      });
      // A replay answers what the key first created, as it is now; only a new order may be held (sync-chain mode).
      const order = r.replayed ? r.order : await holdUntilDecided(deps, hub, r.order);
      return { order: toProto(order), replayed: r.replayed };
    }),
    getOrder: unary('GetOrder', async (req: ordersV1.GetOrderRequest, call) => {
      const caller = await grpcCaller(auth, call.metadata);
      return { order: toProto(await getOrder(deps, req.orderId, caller)) };
    }),
    listOrders: unary('ListOrders', async (req: ordersV1.ListOrdersRequest, call) => {
      const caller = await grpcCaller(auth, call.metadata);
      // Every customer's orders (all_customers) is for operators; a customer lists its own.
      if (caller && !caller.operator && req.allCustomers && req.customerId === '')
        throw forbid('operator_only');
      const r = await listOrders(deps, {
        customerId: req.allCustomers ? req.customerId : ownCustomer(caller, req.customerId, true),
        allCustomers: req.allCustomers,
        status: statusFilter(req.status),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { orders: r.orders.map(toProto), nextPageToken: r.nextPageToken };
    }),
    cancelOrder: unary('CancelOrder', async (req: ordersV1.CancelOrderRequest, call) => {
      const caller = await grpcCaller(auth, call.metadata);
      return { order: toProto(await cancelOrder(deps, req.orderId, caller)) };
    }),
    watchOrder: (call) => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      call.on('close', () => abort.abort());
      grpcCaller(auth, call.metadata)
        .then((caller) =>
          watchOrder(
            deps,
            hub,
            call.request.orderId,
            ({ order, saga }) => call.write({ order: toProto(order), ...(saga ? { saga } : {}) }),
            abort.signal,
            caller,
          ),
        )
        .then(
          () => {
            if (!call.cancelled) call.end();
          },
          (err: unknown) => {
            const e = failed('WatchOrder', err);
            if (!call.cancelled) call.emit('error', e);
          },
        );
    },
  };
}
