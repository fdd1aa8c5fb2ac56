import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '@shop/platform';
import { DomainError } from '../../domain/errors';
import { ORDER_CHANGED_CHANNEL } from './orders-repo';

/**
 * One PostgreSQL connection per replica LISTENing on the order-change channel, fanned out to in-process watchers.
 * NOTIFY is fired by the transaction that changes an order, on whichever replica, so watchers see every change.
 * Resources are bounded: one connection and at most `maxWatchers` subscriptions.
 */
export class OrderChangeHub {
  private client: pg.Client | undefined;
  private readonly watchers = new Map<string, Set<() => void>>();
  private count = 0;
  private stopped = false;
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly maxWatchers: number,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000 });
    client.on('notification', (n) => {
      if (n.channel === ORDER_CHANGED_CHANNEL && n.payload) this.fire(n.payload);
    });
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'order-change listener failed, reconnecting');
      this.reconnect(client);
    });
    client.on('end', () => this.reconnect(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${ORDER_CHANGED_CHANNEL}`);
    } catch (err) {
      // A half-open client would leak its socket on every failed reconnect attempt.
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
  }

  private reconnect(failed: pg.Client): void {
    if (this.stopped || this.client !== failed || this.connecting) return;
    this.client = undefined;
    this.connecting = (async () => {
      for (let attempt = 1; !this.stopped; attempt++) {
        try {
          await this.connect();
          // Changes may have been missed while disconnected: every watcher re-reads its order.
          for (const id of this.watchers.keys()) this.fire(id);
          return;
        } catch (err) {
          this.logger.warn(
            { err: (err as Error).message, attempt },
            'order-change listener cannot reconnect',
          );
          await sleep(Math.min(200 * 2 ** Math.min(attempt, 5), 5000));
        }
      }
    })().finally(() => {
      this.connecting = undefined;
    });
  }

  private fire(orderId: string): void {
    for (const w of this.watchers.get(orderId) ?? []) w();
  }

  /** Calls `onChange` after every committed change of the order; returns the unsubscribe function. */
  subscribe(orderId: string, onChange: () => void): () => void {
    if (this.count >= this.maxWatchers)
      throw new DomainError('TOO_MANY_WATCHERS', `at most ${this.maxWatchers} orders can be watched at once`);
    let set = this.watchers.get(orderId);
    if (!set) this.watchers.set(orderId, (set = new Set()));
    set.add(onChange);
    this.count += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.count -= 1;
      set.delete(onChange);
      if (set.size === 0) this.watchers.delete(orderId);
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const c = this.client;
    this.client = undefined;
    await this.connecting;
    await c?.end().catch(() => undefined);
  }
}
