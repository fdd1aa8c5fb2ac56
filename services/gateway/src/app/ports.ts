import type {
  ListOrdersInput,
  ListPaymentsInput,
  OrderUpdateView,
  OrderView,
  PaymentView,
  PlaceOrderInput,
  ProductView,
  Violation,
} from '../domain/model';

/**
 * What the edge needs from its upstreams (orders, inventory, payments). The gRPC adapter implements it and turns an
 * upstream failure into an UpstreamError carrying the gRPC status code, mapped to HTTP in one table.
 */
export interface Upstreams {
  placeOrder(input: PlaceOrderInput): Promise<{ order: OrderView; replayed: boolean }>;
  getOrder(id: string): Promise<OrderView>;
  listOrders(input: ListOrdersInput): Promise<{ items: OrderView[]; nextCursor: string | null }>;
  cancelOrder(id: string): Promise<OrderView>;
  /**
   * The order and its saga now, then once per change of either (orders' WatchOrder stream), until it ends (REJECTED or CANCELLED), the
   * stream's deadline passes, or `signal` aborts. Fails with an UpstreamError (NOT_FOUND ...) like the unary calls.
   */
  watchOrder(id: string, signal: AbortSignal): AsyncIterable<OrderUpdateView>;
  listProducts(): Promise<ProductView[]>;
  getProduct(sku: string): Promise<ProductView>;
  listPayments(input: ListPaymentsInput): Promise<PaymentView[]>;
}

/**
 * An upstream call failed. `code` is its gRPC status code, which the HTTP adapter maps to a problem in its one
 * table; it lives with the port, not in the gRPC adapter, so the HTTP adapter never imports another adapter.
 */
export class UpstreamError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    readonly violations: Violation[],
    readonly upstream: string,
    statusName = String(code),
  ) {
    super(`${upstream}: ${statusName}: ${details}`);
    this.name = 'UpstreamError';
  }
}
