import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Upstreams } from '../../app/ports';
import type { OrderView } from '../../domain/model';
import { problemFromUpstream } from './problems';
import { UpstreamError } from '../../app/ports';

/** The saga's forward steps, in order (services/orders/src/domain/saga.ts). */
export const SAGA_STEPS = ['RESERVE_STOCK', 'AUTHORIZE_PAYMENT', 'COMMIT_STOCK'] as const;
export type StepState = 'waiting' | 'in-progress' | 'done' | 'failed' | 'undone' | 'skipped';
export interface StepView {
  step: (typeof SAGA_STEPS)[number];
  state: StepState;
}

/**
 * Where each saga step stands for an order in this status. WatchOrder reports the order's status changes; a
 * PENDING order is reserving stock and authorizing its payment, an APPROVED one has both done (committing the stock
 * cannot fail: orders re-sends it until inventory confirms), a rejected or cancelled one had its done steps undone.
 */
export function sagaSteps(o: Pick<OrderView, 'status' | 'rejectionReason'>): StepView[] {
  const states = ((): [StepState, StepState, StepState] => {
    switch (o.status) {
      case 'PENDING':
        return ['in-progress', 'in-progress', 'waiting'];
      case 'APPROVED':
        return ['done', 'done', 'done'];
      case 'CANCELLED':
        return ['undone', 'undone', 'skipped'];
      case 'REJECTED':
        if (o.rejectionReason === 'OUT_OF_STOCK') return ['failed', 'skipped', 'skipped'];
        if (o.rejectionReason === 'PAYMENT_DECLINED') return ['undone', 'failed', 'skipped'];
        return ['failed', 'failed', 'skipped'];
    }
  })();
  return SAGA_STEPS.map((step, i) => ({ step, state: states[i] ?? 'waiting' }));
}

const frame = (event: string, id: number | undefined, data: unknown) =>
  `event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;

/** The watches still open on one server, ended when it closes (a stream would otherwise hold the shutdown up). */
export type OpenStreams = Set<AbortController>;

/** Ends every open event stream of `app` before it closes. */
export function endStreamsOnClose(app: FastifyInstance, watches: OpenStreams): void {
  app.addHook('preClose', (done) => {
    for (const w of watches) w.abort();
    done();
  });
}

/**
 * `GET /v1/orders/{id}/events`: the order's changes as server-sent events, pushed from orders' WatchOrder stream.
 * The first message is awaited before answering, so an unknown order (or a refused caller) is an ordinary problem
 * answer, not an empty stream. Then: `event: order` per change (`data`: the order and its saga steps), and at the
 * end `event: end` (REJECTED or CANCELLED: the order will not change again) or `event: error` (a problem).
 */
export async function orderEvents(
  watches: OpenStreams,
  up: Upstreams,
  id: string,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const abort = new AbortController();
  const it = up.watchOrder(id, abort.signal)[Symbol.asyncIterator]();
  let first: IteratorResult<OrderView>;
  try {
    first = await it.next();
  } catch (err) {
    abort.abort();
    throw err;
  }
  watches.add(abort);
  reply.raw.once('close', () => abort.abort());
  async function* frames() {
    let n = 0;
    let last: OrderView | undefined;
    try {
      for (let r = first; !r.done; r = await it.next()) {
        last = r.value;
        yield frame('order', ++n, { order: r.value, steps: sagaSteps(r.value) });
      }
      if (!abort.signal.aborted) yield frame('end', undefined, { status: last?.status ?? null });
    } catch (err) {
      if (abort.signal.aborted) return;
      const p =
        err instanceof UpstreamError
          ? problemFromUpstream(err)
          : { status: 500, title: 'Internal error', detail: 'the order stream failed' };
      yield frame('error', undefined, p);
    } finally {
      watches.delete(abort);
      abort.abort();
    }
  }
  return (
    reply
      .code(200)
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-accel-buffering', 'no')
      // One long answer per connection: closed with it, so that a stop does not wait for an idle keep-alive socket.
      .header('connection', 'close')
      .send(Readable.from(frames(), { objectMode: false }))
  );
}
