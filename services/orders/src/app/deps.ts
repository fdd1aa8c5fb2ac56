import type { FaultRegistry, Logger, Pool, SagaMetrics } from '@shop/platform';
import type { Violation } from '../domain/errors';
import type { OrderChangeHub } from '../adapters/db/order-changes';

/** Prices from inventory, the only source of prices (issue 3: a client never sets a price). */
export interface InventoryPort {
  /** Throws DomainError VALIDATION_FAILED (violations from inventory) or INVENTORY_UNAVAILABLE. */
  quote(
    items: { sku: string; quantity: number }[],
  ): Promise<{ lines: { sku: string; quantity: number; unitPriceCents: number }[]; currency: string }>;
}

export interface AppDeps {
  pool: Pool;
  relay: { committed(): void };
  metrics: SagaMetrics;
  logger: Logger;
  inventory: InventoryPort;
  /** Notifications of order changes (LISTEN/NOTIFY), for WatchOrder and the sync-chain hold. */
  changes: OrderChangeHub;
  stepTimeoutMs: number;
  compensationMaxAttempts: number;
  /** The service's fault layer: the placement modes `order-chatty` and `order-sync-chain` act through it. */
  faults?: Pick<FaultRegistry, 'hit'>;
}

export type { Violation };

/**
 * Who a gRPC call acts for, from its verified access token; undefined when nobody in particular (AUTH_MODE=open).
 * A customer reaches only its own orders; an operator every order.
 */
export interface Caller {
  customerId: string;
  operator: boolean;
}

/** Whether the caller may see or change an order of `ownerId`. */
export const mayAccess = (caller: Caller | undefined, ownerId: string) =>
  !caller || caller.operator || caller.customerId === ownerId;
