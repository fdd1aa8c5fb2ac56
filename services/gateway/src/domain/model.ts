// The REST edge's public shapes (issue 3, Interfaces). Pure types and constants, no transport.

export const ORDER_STATUSES = ['PENDING', 'APPROVED', 'REJECTED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const REJECTION_REASONS = ['OUT_OF_STOCK', 'PAYMENT_DECLINED', 'TIMEOUT'] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export const PAYMENT_STATUSES = ['AUTHORIZED', 'DECLINED', 'REFUNDED'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export interface OrderLineView {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

export interface OrderView {
  id: string;
  customerId: string;
  items: OrderLineView[];
  totalCents: number;
  currency: string;
  status: OrderStatus;
  rejectionReason: RejectionReason | null;
  createdAt: string | null;
  updatedAt: string | null;
  /** The trace of the request that placed the order (W3C trace id), when it was traced. */
  traceId: string | null;
}

/** Where an order's saga is (orders' WatchOrder): its step and, while compensating, what is still to be undone. */
export interface SagaProgressView {
  step: string;
  pending: string[];
}

/** One change of an order pushed by WatchOrder: the order, and its saga when orders has one for it. */
export interface OrderUpdateView {
  order: OrderView;
  saga: SagaProgressView | null;
}

export interface ProductView {
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
  available: number;
}

export interface PaymentView {
  id: string;
  orderId: string;
  customerId: string;
  amountCents: number;
  currency: string;
  status: PaymentStatus;
  createdAt: string | null;
}

export interface OrderItemInput {
  sku: string;
  quantity: number;
}

export interface PlaceOrderInput {
  customerId: string;
  items: OrderItemInput[];
  idempotencyKey?: string;
}

export interface ListOrdersInput {
  /** Unset: every customer's orders (an operator's listing; orders refuses it to anyone else). */
  customerId?: string;
  status?: OrderStatus;
  limit: number;
  cursor?: string;
}

export interface ListPaymentsInput {
  orderId?: string;
  customerId?: string;
}

/** A field (as a JSON path like `items[0].quantity`, a path or query parameter, or a header name) and what is wrong. */
export interface Violation {
  field: string;
  message: string;
}

/** The request is invalid; nothing was sent upstream. */
export class ValidationError extends Error {
  readonly code = 'REQUEST_INVALID';
  constructor(readonly violations: Violation[]) {
    super(violations.map((v) => `${v.field}: ${v.message}`).join('; '));
    this.name = 'ValidationError';
  }
}
