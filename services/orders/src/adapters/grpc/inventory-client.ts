import { inventoryV1, ServiceNames } from '@shop/contracts';
import type { DependencySettings, GrpcTls, Logger, Metrics } from '@shop/platform';
import { createGrpcClient, dependencyGuard, isGrpcError, Status, unary, violationsOf } from '@shop/platform';
import { DomainError, validationFailed } from '../../domain/errors';
import type { InventoryPort } from '../../app/deps';

/**
 * QuoteItems on inventory; its verdict on skus is passed through, its absence is UNAVAILABLE. A read: retried on
 * UNAVAILABLE under the retry budget, behind a circuit breaker and a bulkhead, within the caller's deadline.
 */
export function inventoryClient(
  address: string,
  opts: {
    deadlineMs: number;
    metrics: Metrics;
    logger: Logger;
    settings: DependencySettings;
    discoveryRefreshMs?: number;
    tls?: GrpcTls;
  },
): InventoryPort & { close(): void } {
  const client = createGrpcClient(inventoryV1.InventoryServiceClient, address, {
    deadlineMs: opts.deadlineMs,
    ...(opts.discoveryRefreshMs ? { discoveryRefreshMs: opts.discoveryRefreshMs } : {}),
    metrics: opts.metrics,
    retry: { service: ServiceNames.inventory, methods: ['QuoteItems'], settings: opts.settings.retry },
    ...(opts.tls ? { tls: { tls: opts.tls, peer: 'inventory' } } : {}),
  });
  const guard = dependencyGuard('inventory', opts.settings, opts);
  return {
    close: () => client.close(),
    async quote(items) {
      let res: inventoryV1.QuoteItemsResponse;
      try {
        res = await guard.execute(() => unary(client.quoteItems.bind(client), { items }));
      } catch (err) {
        if (isGrpcError(err, Status.INVALID_ARGUMENT)) {
          const violations = violationsOf(err);
          throw validationFailed(
            violations.length > 0
              ? violations
              : [{ field: 'items', description: err.details || 'rejected by inventory' }],
          );
        }
        const details = isGrpcError(err) ? `${Status[err.code]}: ${err.details}` : (err as Error).message;
        throw new DomainError('INVENTORY_UNAVAILABLE', `inventory could not price the order (${details})`);
      }
      // Never trust a peer either: the quote must price exactly the requested lines, in one currency.
      const ok =
        res.lines.length === items.length &&
        items.every((it, i) => res.lines[i]?.sku === it.sku && res.lines[i]?.quantity === it.quantity) &&
        res.lines.every((l) => Number.isSafeInteger(l.unitPriceCents) && l.unitPriceCents >= 0) &&
        /^[A-Z]{3}$/.test(res.currency);
      if (!ok)
        throw new DomainError(
          'INVENTORY_QUOTE_INVALID',
          'inventory returned a quote that does not match the order',
        );
      return { lines: res.lines, currency: res.currency };
    },
  };
}
