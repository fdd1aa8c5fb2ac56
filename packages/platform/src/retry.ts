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
