import { DomainError } from './errors';

export const ORDER_STATUSES = ['PENDING', 'APPROVED', 'REJECTED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const REJECTION_REASONS = ['OUT_OF_STOCK', 'PAYMENT_DECLINED', 'TIMEOUT'] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export interface OrderLine {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

export interface Order {
  id: string;
  customerId: string;
  lines: OrderLine[];
  totalCents: number;
  currency: string;
  status: OrderStatus;
  rejectionReason: RejectionReason | null;
  createdAt: Date;
  updatedAt: Date;
  version: number;
  /** The trace of the request that placed it (W3C trace id), when that request was traced. */
  traceId: string | null;
}

/**
 * The legal status transitions (issue 3, "Domain"); anything not listed is ORDER_INVALID_TRANSITION. A rejection
 * must name one of the listed reasons; no other transition carries a reason.
 */
export const ORDER_TRANSITIONS: readonly {
  from: OrderStatus;
  to: OrderStatus;
  reasons?: readonly RejectionReason[];
}[] = [
  { from: 'PENDING', to: 'APPROVED' },
  { from: 'PENDING', to: 'REJECTED', reasons: REJECTION_REASONS },
  { from: 'PENDING', to: 'CANCELLED' },
  { from: 'APPROVED', to: 'CANCELLED' },
];

export const isTerminal = (s: OrderStatus) => s === 'REJECTED' || s === 'CANCELLED';

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return ORDER_TRANSITIONS.some((t) => t.from === from && t.to === to);
}

/** Applies a status change to an order, returning the new state; throws ORDER_INVALID_TRANSITION when illegal. */
export function transition(
  order: Order,
  to: OrderStatus,
  now: Date,
  reason: RejectionReason | null = null,
): Order {
  const rule = ORDER_TRANSITIONS.find((t) => t.from === order.status && t.to === to);
  if (!rule) {
    throw new DomainError(
      'ORDER_INVALID_TRANSITION',
      `order ${order.id} is ${order.status} and cannot become ${to}`,
    );
  }
  if (
    (rule.reasons === undefined) !== (reason === null) ||
    (reason !== null && !rule.reasons?.includes(reason))
  ) {
    throw new DomainError(
      'ORDER_INVALID_TRANSITION',
      `order ${order.id}: ${to} with reason ${reason ?? 'none'} is not allowed`,
    );
  }
  return { ...order, status: to, rejectionReason: reason, updatedAt: now, version: order.version + 1 };
}

/** Total of the lines in minor units; integers only, so no rounding ever happens. */
export function totalOf(lines: readonly OrderLine[]): number {
  let total = 0;
  for (const l of lines) total += l.quantity * l.unitPriceCents;
  if (!Number.isSafeInteger(total)) throw new RangeError('order total exceeds the safe integer range');
  return total;
}
