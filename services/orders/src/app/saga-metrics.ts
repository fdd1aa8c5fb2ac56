import type { Registry, SagaMetrics } from '@shop/platform';
import { createSagaMetrics } from '@shop/platform';
import { REJECTION_REASONS } from '../domain/order';
import { ALL_COMPENSATIONS } from '../domain/saga';

/**
 * The saga metrics of this replica, with a zero series for every outcome and compensation known in advance:
 * `increase()` cannot see the first event of a series that did not exist before it (docs/metrics.md).
 */
export function sagaMetrics(registry: Registry): SagaMetrics {
  const m = createSagaMetrics(registry);
  const completions = [
    { outcome: 'approved', reason: 'none' },
    ...REJECTION_REASONS.map((reason) => ({ outcome: 'rejected', reason })),
    { outcome: 'cancelled', reason: 'CUSTOMER_REQUEST' },
  ];
  for (const labels of completions) m.completed.inc(labels, 0);
  for (const step of ALL_COMPENSATIONS) m.compensations.inc({ step }, 0);
  return m;
}
