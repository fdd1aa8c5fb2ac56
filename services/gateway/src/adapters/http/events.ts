import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Upstreams } from '../../app/ports';
import type { OrderUpdateView, OrderView, SagaProgressView } from '../../domain/model';
import { problemFromUpstream } from './problems';
import { UpstreamError } from '../../app/ports';

/** The saga's forward steps, in order (services/orders/src/domain/saga.ts). */
export const SAGA_STEPS = ['RESERVE_STOCK', 'AUTHORIZE_PAYMENT', 'COMMIT_STOCK'] as const;
export type StepState = 'waiting' | 'in-progress' | 'done' | 'failed' | 'undoing' | 'undone' | 'skipped';
export interface StepView {
  step: (typeof SAGA_STEPS)[number];
  state: StepState;
}

/** The compensation that undoes each forward step (services/orders/src/domain/saga.ts). */
const UNDOES: Record<string, (typeof SAGA_STEPS)[number]> = {
  RELEASE_STOCK: 'RESERVE_STOCK',
  REFUND_PAYMENT: 'AUTHORIZE_PAYMENT',
};

/**
 * Where each saga step stands, from the saga's own step as WatchOrder pushes it: the steps before the current one are
 * done, the current one in progress (RESERVE_STOCK, then AUTHORIZE_PAYMENT while PENDING; COMMIT_STOCK once
 * APPROVED), the later ones waiting. A rejected or cancelled order had its done steps undone; while the saga is
 * COMPENSATING, the steps whose compensation is still unconfirmed are `undoing`. Without a saga (an order orders
 * has no saga row for), the status alone says it.
 */
export function sagaSteps(
  o: Pick<OrderView, 'status' | 'rejectionReason'>,
  saga: SagaProgressView | null = null,
): StepView[] {
  const forward = SAGA_STEPS.findIndex((s) => s === saga?.step);
  if (forward >= 0 && (o.status === 'PENDING' || o.status === 'APPROVED'))
    return SAGA_STEPS.map((step, i) => ({
      step,
      state: i < forward ? 'done' : i === forward ? 'in-progress' : 'waiting',
    }));
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
  const undoing = new Set(saga?.step === 'COMPENSATING' ? saga.pending.map((c) => UNDOES[c]) : []);
  return SAGA_STEPS.map((step, i) => ({
    step,
    state: undoing.has(step) ? 'undoing' : (states[i] ?? 'waiting'),
  }));
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
  let first: IteratorResult<OrderUpdateView>;
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
        last = r.value.order;
        yield frame('order', ++n, {
          order: r.value.order,
          saga: r.value.saga,
          steps: sagaSteps(r.value.order, r.value.saga),
        });
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
