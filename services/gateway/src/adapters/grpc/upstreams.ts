import { Metadata } from '@grpc/grpc-js';
import { inventoryV1, ordersV1, paymentsV1, ServiceNames } from '@shop/contracts';
import type { DependencyGuard, DependencySettings, GrpcTls, Logger, Metrics } from '@shop/platform';
import { Status, createGrpcClient, dependencyGuard, isGrpcError, unary, violationsOf } from '@shop/platform';
import type { Upstreams } from '../../app/ports';
import { UpstreamError } from '../../app/ports';
import type {
  OrderStatus,
  OrderView,
  PaymentStatus,
  PaymentView,
  ProductView,
  RejectionReason,
} from '../../domain/model';
import { ORDER_STATUSES, PAYMENT_STATUSES, REJECTION_REASONS } from '../../domain/model';

// Violations come back with the upstream's proto field names; the client knows the REST names.
const camel = (field: string) => field.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
function restField(field: string, renames: Record<string, string>): string {
  const f = camel(field);
  const head = /^[^.[]+/.exec(f)?.[0] ?? f;
  const renamed = renames[head];
  return renamed === undefined ? f : renamed + f.slice(head.length);
}

/** A gRPC error as the port's UpstreamError (violations renamed to the REST fields); anything else as it is. */
function upstreamError(err: unknown, upstream: string, renames: Record<string, string>): unknown {
  if (!isGrpcError(err)) return err;
  const violations = violationsOf(err).map((v) => ({
    field: restField(v.field, renames),
    message: v.description,
  }));
  return new UpstreamError(err.code, err.details ?? '', violations, upstream, Status[err.code]);
}

async function call<T>(
  guard: DependencyGuard,
  renames: Record<string, string>,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await guard.execute(run);
  } catch (err) {
    throw upstreamError(err, guard.name, renames);
  }
}

/** How long one WatchOrder stream may stay open (the client interceptor gives every call a deadline). */
export const WATCH_MAX_MS = 10 * 60_000;

const iso = (d: Date | undefined) => (d ? d.toISOString() : null);
const suffix = <T extends string>(name: string, prefix: string, allowed: readonly T[], what: string): T => {
  const s = name.startsWith(prefix) ? name.slice(prefix.length) : name;
  if ((allowed as readonly string[]).includes(s)) return s as T;
  throw new UpstreamError(
    Status.INTERNAL,
    `upstream returned an unknown ${what} ${name}`,
    [],
    'gateway',
    'INTERNAL',
  );
};

export function orderView(o: ordersV1.Order | undefined): OrderView {
  if (!o) throw new UpstreamError(Status.INTERNAL, 'orders returned no order', [], 'orders', 'INTERNAL');
  const reason = o.rejectionReason;
  return {
    id: o.id,
    customerId: o.customerId,
    items: o.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPriceCents: l.unitPriceCents })),
    totalCents: o.totalCents,
    currency: o.currency,
    status: suffix<OrderStatus>(
      ordersV1.orderStatusToJSON(o.status),
      'ORDER_STATUS_',
      ORDER_STATUSES,
      'order status',
    ),
    rejectionReason:
      reason === ordersV1.RejectionReason.REJECTION_REASON_UNSPECIFIED
        ? null
        : suffix<RejectionReason>(
            ordersV1.rejectionReasonToJSON(reason),
            'REJECTION_REASON_',
            REJECTION_REASONS,
            'rejection reason',
          ),
    createdAt: iso(o.createdAt),
    updatedAt: iso(o.updatedAt),
    traceId: /^[0-9a-f]{32}$/.test(o.traceId) ? o.traceId : null,
  };
}

export function productView(p: inventoryV1.Product | undefined): ProductView {
  if (!p)
    throw new UpstreamError(Status.INTERNAL, 'inventory returned no product', [], 'inventory', 'INTERNAL');
  return { sku: p.sku, name: p.name, priceCents: p.priceCents, currency: p.currency, available: p.available };
}

export function paymentView(p: paymentsV1.Payment): PaymentView {
  return {
    id: p.id,
    orderId: p.orderId,
    customerId: p.customerId,
    amountCents: p.amountCents,
    currency: p.currency,
    status: suffix<PaymentStatus>(
      paymentsV1.paymentStatusToJSON(p.status),
      'PAYMENT_STATUS_',
      PAYMENT_STATUSES,
      'payment status',
    ),
    createdAt: iso(p.createdAt),
  };
}

export interface UpstreamAddresses {
  orders: string;
  inventory: string;
  payments: string;
}

export interface GrpcUpstreams extends Upstreams {
  close(): void;
}

/** The read-only methods: retried on UNAVAILABLE (under the budget). Writes are never retried here. */
const RETRYABLE = {
  orders: ['GetOrder', 'ListOrders'],
  inventory: ['ListProducts', 'GetProduct'],
  payments: ['ListPayments'],
} as const;

export function createGrpcUpstreams(
  addr: UpstreamAddresses,
  opts: {
    deadlineMs: number;
    metrics: Metrics;
    logger: Logger;
    settings: DependencySettings;
    tls?: GrpcTls;
  },
): GrpcUpstreams {
  const client = <C>(
    Ctor: new (...args: ConstructorParameters<typeof ordersV1.OrderServiceClient>) => C,
    name: keyof typeof RETRYABLE,
  ) =>
    createGrpcClient(Ctor, addr[name], {
      deadlineMs: opts.deadlineMs,
      metrics: opts.metrics,
      retry: { service: ServiceNames[name], methods: RETRYABLE[name], settings: opts.settings.retry },
      ...(opts.tls ? { tls: { tls: opts.tls, peer: name } } : {}),
      // orders and payments verify the caller's token themselves; inventory's reads are public.
      forwardCaller: name !== 'inventory',
    });
  const orders = client(ordersV1.OrderServiceClient, 'orders');
  const inventory = client(inventoryV1.InventoryServiceClient, 'inventory');
  const payments = client(paymentsV1.PaymentServiceClient, 'payments');
  const guard = (name: string) => dependencyGuard(name, opts.settings, opts);
  const ordersGuard = guard('orders');
  const inventoryGuard = guard('inventory');
  const paymentsGuard = guard('payments');
  return {
    async placeOrder(input) {
      const res = await call(ordersGuard, { idempotencyKey: 'Idempotency-Key' }, () =>
        unary(orders.placeOrder.bind(orders), {
          customerId: input.customerId,
          items: input.items,
          idempotencyKey: input.idempotencyKey ?? '',
        }),
      ).catch((err: unknown) => {
        // orders.proto: "the same key with another request is FAILED_PRECONDITION" on PlaceOrder, which is the
        // REST contract's 422 (issue 3), not the 409 of a state conflict: re-coded here, mapped in the one table.
        if (err instanceof UpstreamError && err.code === Number(Status.FAILED_PRECONDITION)) {
          throw new UpstreamError(
            Status.ALREADY_EXISTS,
            err.details,
            err.violations,
            err.upstream,
            'ALREADY_EXISTS',
          );
        }
        throw err;
      });
      return { order: orderView(res.order), replayed: res.replayed };
    },
    async getOrder(id) {
      const res = await call(ordersGuard, { orderId: 'id' }, () =>
        unary(orders.getOrder.bind(orders), { orderId: id }),
      );
      return orderView(res.order);
    },
    async listOrders(input) {
      const res = await call(ordersGuard, { pageSize: 'limit', pageToken: 'cursor' }, () =>
        unary(orders.listOrders.bind(orders), {
          customerId: input.customerId ?? '',
          // No customer: an operator's listing of every customer (orders refuses it to anyone else).
          allCustomers: input.customerId === undefined,
          status: input.status
            ? ordersV1.orderStatusFromJSON(`ORDER_STATUS_${input.status}`)
            : ordersV1.OrderStatus.ORDER_STATUS_UNSPECIFIED,
          pageSize: input.limit,
          pageToken: input.cursor ?? '',
        }),
      );
      return {
        items: res.orders.map(orderView),
        nextCursor: res.nextPageToken === '' ? null : res.nextPageToken,
      };
    },
    async cancelOrder(id) {
      const res = await call(ordersGuard, { orderId: 'id' }, () =>
        unary(orders.cancelOrder.bind(orders), { orderId: id }),
      );
      return orderView(res.order);
    },
    // Not under the dependency guard: a stream would hold a bulkhead slot for its whole life.
    async *watchOrder(id, signal) {
      const stream = orders.watchOrder({ orderId: id }, new Metadata(), {
        deadline: Date.now() + WATCH_MAX_MS,
      });
      const cancel = () => stream.cancel();
      signal.addEventListener('abort', cancel, { once: true });
      try {
        for await (const message of stream as AsyncIterable<ordersV1.WatchOrderResponse>)
          yield {
            order: orderView(message.order),
            saga: message.saga ? { step: message.saga.step, pending: [...message.saga.pending] } : null,
          };
      } catch (err) {
        // Our own cancel ends the stream with CANCELLED: that is the end of the watch, not a failure.
        if (signal.aborted) return;
        throw upstreamError(err, 'orders', { orderId: 'id' });
      } finally {
        signal.removeEventListener('abort', cancel);
        stream.cancel();
      }
    },
    async listProducts() {
      const res = await call(inventoryGuard, {}, () => unary(inventory.listProducts.bind(inventory), {}));
      return res.products.map(productView);
    },
    async getProduct(sku) {
      const res = await call(inventoryGuard, {}, () => unary(inventory.getProduct.bind(inventory), { sku }));
      return productView(res.product);
    },
    async listPayments(input) {
      const res = await call(paymentsGuard, {}, () =>
        unary(payments.listPayments.bind(payments), {
          orderId: input.orderId ?? '',
          customerId: input.customerId ?? '',
        }),
      );
      return res.payments.map(paymentView);
    },
    close() {
      orders.close();
      inventory.close();
      payments.close();
    },
  };
}
