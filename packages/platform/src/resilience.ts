// Resilience of outgoing gRPC calls, per dependency: a circuit breaker and a bulkhead (cockatiel), retries with
// randomised exponential backoff under a retry budget (gRPC's own retry policy and retry throttling, gRFC A6, run by
// @grpc/grpc-js), and deadlines propagated from the incoming call. docs/architecture.md, "Calling another service".
import {
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  BrokenCircuitError,
  IsolatedCircuitError,
  bulkhead,
  circuitBreaker,
  handleWhen,
} from 'cockatiel';
import type { BulkheadPolicy, CircuitBreakerPolicy } from 'cockatiel';
import * as grpc from '@grpc/grpc-js';
import { faultRegistryOf } from './faults';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

/** Codes that say the dependency (not the request) is in trouble: they trip the breaker. */
const DEPENDENCY_FAILURES = new Set<number>([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.RESOURCE_EXHAUSTED,
]);

export interface RetrySettings {
  /** Attempts in all, the first included (1 = no retry). gRPC caps this at 5. */
  maxAttempts: number;
  /** First backoff; each next one is multiplied by 2, capped by maxBackoffMs; every wait is random in [0, backoff]. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Retry budget (gRPC retry throttling): a bucket of `maxTokens`, -1 per failure, +tokenRatio per success;
   * retries stop while it is at or below half. */
  maxTokens: number;
  tokenRatio: number;
}

export interface DependencySettings {
  /** Consecutive dependency failures that open the circuit (0: no breaker). */
  breakerFailures: number;
  /** How long an open circuit fails fast before one trial call is let through. */
  breakerHalfOpenMs: number;
  /** Calls in flight at once towards this dependency (0: no bulkhead). */
  bulkheadMax: number;
  /** Calls waiting for a slot; beyond it a call fails at once. */
  bulkheadQueue: number;
  retry: RetrySettings;
}

export const DEFAULT_DEPENDENCY_SETTINGS: DependencySettings = {
  breakerFailures: 5,
  breakerHalfOpenMs: 5000,
  bulkheadMax: 64,
  bulkheadQueue: 64,
  retry: { maxAttempts: 3, initialBackoffMs: 50, maxBackoffMs: 500, maxTokens: 10, tokenRatio: 0.1 },
};

/**
 * The `grpc.service_config` of a channel: retries for the listed methods only (those safe to repeat: reads, or
 * writes made idempotent by the callee), on UNAVAILABLE only (the request did not reach a handler, or the server is
 * going away); never on DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED or CANCELLED, which a retry only makes worse.
 */
export function retryServiceConfig(
  service: string,
  retryableMethods: readonly string[],
  retry: RetrySettings,
): string {
  const config = {
    methodConfig:
      retry.maxAttempts > 1 && retryableMethods.length > 0
        ? [
            {
              name: retryableMethods.map((method) => ({ service, method })),
              retryPolicy: {
                maxAttempts: Math.min(5, retry.maxAttempts),
                initialBackoff: `${(retry.initialBackoffMs / 1000).toFixed(3)}s`,
                maxBackoff: `${(retry.maxBackoffMs / 1000).toFixed(3)}s`,
                backoffMultiplier: 2,
                retryableStatusCodes: ['UNAVAILABLE'],
              },
            },
          ]
        : [],
    retryThrottling: { maxTokens: retry.maxTokens, tokenRatio: retry.tokenRatio },
  };
  return JSON.stringify(config);
}

const STATE_VALUE: Record<CircuitState, number> = {
  [CircuitState.Closed]: 0,
  [CircuitState.Open]: 1,
  [CircuitState.HalfOpen]: 2,
  [CircuitState.Isolated]: 1,
};
const STATE_NAME: Record<CircuitState, string> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'open',
};

function unavailable(details: string): grpc.ServiceError {
  return Object.assign(new Error(`14 UNAVAILABLE: ${details}`), {
    code: grpc.status.UNAVAILABLE,
    details,
    metadata: new grpc.Metadata(),
  });
}

/** A breaker and a bulkhead in front of one dependency; state and rejections are metrics. */
export interface DependencyGuard {
  readonly name: string;
  /** Runs one call (retries included) through the bulkhead and the breaker. */
  execute<T>(fn: () => Promise<T>): Promise<T>;
  /** closed, open or half_open. */
  state(): string;
}

export function dependencyGuard(
  name: string,
  settings: Pick<
    DependencySettings,
    'breakerFailures' | 'breakerHalfOpenMs' | 'bulkheadMax' | 'bulkheadQueue'
  >,
  deps: { metrics: Metrics; logger: Logger },
): DependencyGuard {
  const m = deps.metrics.resilience;
  let breaker: CircuitBreakerPolicy | undefined;
  if (settings.breakerFailures > 0) {
    breaker = circuitBreaker(
      handleWhen((err) => {
        const code = (err as { code?: unknown }).code;
        return typeof code === 'number' && DEPENDENCY_FAILURES.has(code);
      }),
      {
        halfOpenAfter: settings.breakerHalfOpenMs,
        breaker: new ConsecutiveBreaker(settings.breakerFailures),
      },
    );
    const b = breaker;
    m.breakerState.set({ dependency: name }, 0);
    for (const to of ['closed', 'open', 'half_open']) m.breakerTransitions.inc({ dependency: name, to }, 0);
    b.onStateChange((state) => {
      m.breakerState.set({ dependency: name }, STATE_VALUE[state]);
      m.breakerTransitions.inc({ dependency: name, to: STATE_NAME[state] });
      const log = state === CircuitState.Closed ? deps.logger.info : deps.logger.warn;
      log.call(
        deps.logger,
        { dependency: name, state: STATE_NAME[state] },
        `circuit to ${name} ${STATE_NAME[state]}`,
      );
    });
  }
  let limiter: BulkheadPolicy | undefined;
  if (settings.bulkheadMax > 0) {
    limiter = bulkhead(settings.bulkheadMax, settings.bulkheadQueue);
    m.bulkheadRejected.inc({ dependency: name }, 0);
  }
  return {
    name,
    state: () => (breaker ? STATE_NAME[breaker.state] : 'closed'),
    async execute<T>(fn: () => Promise<T>): Promise<T> {
      // The retry-storm fault: the legacy client path, around the guard rather than through it (fault layer).
      const storm = faultRegistryOf(deps.metrics)?.hit('retry-storm', { target: name });
      if (storm) return naiveRetries(fn, storm.attempts);
      const guarded = breaker ? () => breaker.execute(fn) : fn;
      try {
        return limiter ? await limiter.execute(guarded) : await guarded();
      } catch (err) {
        if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
          m.breakerRejected.inc({ dependency: name });
          throw unavailable(`circuit to ${name} is open: failing fast after repeated failures`);
        }
        if (err instanceof BulkheadRejectedError) {
          m.bulkheadRejected.inc({ dependency: name });
          throw unavailable(`too many calls in flight to ${name} (bulkhead full)`);
        }
        throw err;
      }
    },
  };
}

/** What the retry-storm fault deploys: every error retried at once, `attempts` in all, nothing bounding it. */
async function naiveRetries<T>(fn: () => Promise<T>, attempts: number): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
    }
  }
}
