import { DomainError } from './errors';
import type { ItemInput } from './validation';

/** Status of one reserved line (sku) of an order. */
export type LineStatus = 'RESERVED' | 'RELEASED' | 'COMMITTED';
/** Status of an order as inventory knows it; the order-level idempotency record. */
export type OrderStockStatus = 'RESERVED' | 'REJECTED' | 'COMMITTED' | 'RELEASED';

// Legal transitions. reserve: on_hand -> RESERVED; commit: RESERVED -> COMMITTED; release: RESERVED or COMMITTED ->
// on_hand. REJECTED and RELEASED are terminal.
const LINE_TRANSITIONS: Record<LineStatus, readonly LineStatus[]> = {
  RESERVED: ['COMMITTED', 'RELEASED'],
  COMMITTED: ['RELEASED'],
  RELEASED: [],
};
const ORDER_TRANSITIONS: Record<OrderStockStatus, readonly OrderStockStatus[]> = {
  RESERVED: ['COMMITTED', 'RELEASED'],
  COMMITTED: ['RELEASED'],
  REJECTED: [],
  RELEASED: [],
};

export const canTransitionLine = (from: LineStatus, to: LineStatus) => LINE_TRANSITIONS[from].includes(to);
export const canTransitionOrder = (from: OrderStockStatus, to: OrderStockStatus) =>
  ORDER_TRANSITIONS[from].includes(to);

export function assertOrderTransition(orderId: string, from: OrderStockStatus, to: OrderStockStatus): void {
  if (!canTransitionOrder(from, to)) {
    throw new DomainError(
      'STOCK_INVALID_TRANSITION',
      `order ${orderId}: stock cannot go from ${from} to ${to}`,
    );
  }
}

/** Lines that still hold stock (they count against initial_stock). */
export const isHeld = (status: LineStatus) => status === 'RESERVED' || status === 'COMMITTED';

/** One line of an order's reservation. */
export interface ReservationLine {
  sku: string;
  quantity: number;
  status: LineStatus;
}

export interface OrderStock {
  orderId: string;
  status: OrderStockStatus;
  rejectReason: string | null;
  unavailableSkus: string[];
}

/** What inventory answers to a command; the Kafka adapter turns it into a reply message. */
export type StockReply =
  | { kind: 'reserved' }
  | { kind: 'rejected'; reason: string; unavailableSkus: string[] }
  | { kind: 'released' }
  | { kind: 'committed' };

export const INSUFFICIENT_STOCK = 'insufficient stock';
export const UNKNOWN_SKU = 'unknown sku';
export const ALREADY_RELEASED = 'reservation already released';

export type ReservationDecision =
  { kind: 'reserve' } | { kind: 'reject'; reason: string; unavailableSkus: string[] };

/** All or nothing: reserve when every line fits in on_hand, else name every line that does not. */
export function decideReservation(
  items: readonly ItemInput[],
  onHand: ReadonlyMap<string, number>,
): ReservationDecision {
  const unknown: string[] = [];
  const short: string[] = [];
  for (const item of items) {
    const available = onHand.get(item.sku);
    if (available === undefined) unknown.push(item.sku);
    else if (available < item.quantity) short.push(item.sku);
  }
  if (unknown.length === 0 && short.length === 0) return { kind: 'reserve' };
  return {
    kind: 'reject',
    reason: short.length > 0 ? INSUFFICIENT_STOCK : UNKNOWN_SKU,
    unavailableSkus: items.map((i) => i.sku).filter((sku) => unknown.includes(sku) || short.includes(sku)),
  };
}

/** A ReserveStock for an order inventory already knows is answered from the stored state, never applied twice. */
export function replyToRepeatedReserve(order: OrderStock): StockReply {
  switch (order.status) {
    case 'RESERVED':
    case 'COMMITTED':
      return { kind: 'reserved' };
    case 'REJECTED':
      return {
        kind: 'rejected',
        reason: order.rejectReason ?? INSUFFICIENT_STOCK,
        unavailableSkus: order.unavailableSkus,
      };
    case 'RELEASED':
      // Released (or released before any reservation arrived, e.g. after a saga timeout): holding stock again for
      // an order the orchestrator has already compensated would leak it.
      return { kind: 'rejected', reason: ALREADY_RELEASED, unavailableSkus: [] };
  }
}
