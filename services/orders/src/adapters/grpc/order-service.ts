import { ordersV1 } from '@shop/contracts';
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
  };
}

export function orderService(deps: AppDeps): ordersV1.OrderServiceServer {
  const hub = deps.changes;
  const { unary, failed } = ordersGrpcHandlers(deps.logger);
  return {
    placeOrder: unary('PlaceOrder', async (req: ordersV1.PlaceOrderRequest) => {
      const r = await placeOrder(deps, {
        customerId: req.customerId,
        items: req.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
        ...(req.idempotencyKey !== '' ? { idempotencyKey: req.idempotencyKey } : {}),
      });
      // A replay answers what the key first created, as it is now; only a new order may be held (sync-chain mode).
      const order = r.replayed ? r.order : await holdUntilDecided(deps, hub, r.order);
      return { order: toProto(order), replayed: r.replayed };
    }),
    getOrder: unary('GetOrder', async (req: ordersV1.GetOrderRequest) => ({
      order: toProto(await getOrder(deps, req.orderId)),
    })),
    listOrders: unary('ListOrders', async (req: ordersV1.ListOrdersRequest) => {
      const r = await listOrders(deps, {
        customerId: req.customerId,
        allCustomers: req.allCustomers,
        status: statusFilter(req.status),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { orders: r.orders.map(toProto), nextPageToken: r.nextPageToken };
    }),
    cancelOrder: unary('CancelOrder', async (req: ordersV1.CancelOrderRequest) => ({
      order: toProto(await cancelOrder(deps, req.orderId)),
    })),
    watchOrder: (call) => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      call.on('close', () => abort.abort());
      watchOrder(
        deps,
        hub,
        call.request.orderId,
        (o) => call.write({ order: toProto(o) }),
        abort.signal,
      ).then(
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
