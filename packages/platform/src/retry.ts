import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger';

export interface RetryOptions {
  /** What is being waited for, for log lines and the final error. */
  what: string;
  timeoutMs: number;
  logger?: Logger;
  initialDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
}

/** Retries `fn` with capped exponential backoff until it succeeds or `timeoutMs` has passed. */
export async function retryWithBackoff<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = opts.initialDelayMs ?? 200;
  let attempt = 0;
  for (;;) {
    attempt += 1;
    try {
      return await fn();
    } catch (err) {
      const left = deadline - Date.now();
      if (left <= 0 || opts.signal?.aborted) {
        throw new Error(
          `${opts.what}: still failing after ${attempt} attempts in ${opts.timeoutMs} ms: ${errorMessage(err)}`,
          {
            cause: err,
          },
        );
      }
      opts.logger?.warn(
        { attempt, err: errorMessage(err), retryInMs: Math.min(delay, left) },
        `${opts.what}: not yet reachable`,
      );
      await sleep(Math.min(delay, left), undefined, { signal: opts.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, opts.maxDelayMs ?? 2000);
    }
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(errorMessage).join('; ');
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

// Errors that mean "infrastructure is unavailable or overloaded right now": retrying later will help, dead-lettering
// (or answering INTERNAL) would lose a good message or request.
// - Node socket and DNS errors (EAI_AGAIN: the resolver did not answer, e.g. CoreDNS restarting).
// - PostgreSQL SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html): class 08 (connection),
//   class 53 (insufficient resources: 53300 too_many_connections, 53200 out_of_memory, ...), 57014 (query_canceled,
//   statement_timeout), 57P01-57P05 (admin/crash shutdown, cannot connect now, idle-session timeout), 55P03
//   (lock_not_available, lock_timeout), 55006 (object_in_use), 25P03 (idle-in-transaction timeout), 40001/40P01
//   (serialization failure, deadlock: the transaction is meant to be retried).
const TRANSIENT_CODE =
  /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENETDOWN|EAI_AGAIN|08\d{3}|08P01|53\d{3}|57014|57P0[1-5]|55P03|55006|25P03|40001|40P01)$/;
const TRANSIENT_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|terminating connection due to|the database system is (starting up|shutting down|in recovery mode)/i;

/** True for an error that a later retry can cure (the cause chain and AggregateError members are looked at too). */
export function isTransient(err: unknown, depth = 0): boolean {
  if (err === null || err === undefined || depth > 5) return false;
  const e = err as { code?: unknown; cause?: unknown; retriable?: unknown; name?: unknown };
  if (typeof e.code === 'string' && TRANSIENT_CODE.test(e.code)) return true;
  // kafkajs marks the broker errors it would retry itself (leader moving, broker not available, ...).
  if (typeof e.name === 'string' && e.name.startsWith('KafkaJS') && e.retriable === true) return true;
  if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSRequestTimeoutError') return true;
  if (err instanceof AggregateError && err.errors.some((x) => isTransient(x, depth + 1))) return true;
  if (e.cause !== undefined && isTransient(e.cause, depth + 1)) return true;
  return err instanceof Error && TRANSIENT_MESSAGE.test(err.message);
}
