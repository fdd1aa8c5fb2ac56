import type { Lab } from './lab';
import { brokerAcl } from './labs/broker-acl';
import { canaryRollback } from './labs/canary-rollback';
import { chattyChain } from './labs/chatty-chain';
import { certRotation } from './labs/cert-rotation';
import { circuitBreaker } from './labs/circuit-breaker';
import { dbPoolExhaustion } from './labs/db-pool';
import { discoveryOutage } from './labs/discovery-outage';
import { faultInjection } from './labs/fault-injection';
import { latencyWalkthrough } from './labs/latency-walkthrough';
import { metricCardinality } from './labs/metric-cardinality';
import { noDrainShutdown } from './labs/no-drain-shutdown';
import { paymentsContract } from './labs/payments-contract';
import { retryStorm } from './labs/retry-storm';
import { scaleOut } from './labs/scale-out';
import { sessionTimeout } from './labs/session-timeout';
import { upgradeDataLoss } from './labs/upgrade-data-loss';

export * from './autoscaler';
export * from './balancer';
export * from './cgroups';
export * from './lab';
export * from './measure';
export * from './platform';
export * from './prometheus';

/** Every lab, in the order `npm run lab -- list` prints them. Add a lab: a module in src/labs/ and a line here. */
export const LABS: Lab[] = [
  paymentsContract,
  faultInjection,
  dbPoolExhaustion,
  discoveryOutage,
  brokerAcl,
  noDrainShutdown,
  upgradeDataLoss,
  canaryRollback,
  sessionTimeout,
  retryStorm,
  circuitBreaker,
  latencyWalkthrough,
  metricCardinality,
  certRotation,
  scaleOut,
  chattyChain,
];

export const labById = (id: string) => LABS.find((l) => l.id === id);
