import type { Lab } from './lab';
import { circuitBreaker } from './labs/circuit-breaker';
import { dbPoolExhaustion } from './labs/db-pool';
import { faultInjection } from './labs/fault-injection';
import { latencyWalkthrough } from './labs/latency-walkthrough';
import { metricCardinality } from './labs/metric-cardinality';
import { paymentsContract } from './labs/payments-contract';
import { retryStorm } from './labs/retry-storm';

export * from './lab';
export * from './measure';
export * from './platform';

/** Every lab, in the order `npm run lab -- list` prints them. Add a lab: a module in src/labs/ and a line here. */
export const LABS: Lab[] = [
  paymentsContract,
  faultInjection,
  dbPoolExhaustion,
  retryStorm,
  circuitBreaker,
  latencyWalkthrough,
  metricCardinality,
];

export const labById = (id: string) => LABS.find((l) => l.id === id);
