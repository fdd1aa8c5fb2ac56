import type { Envelope } from '@shop/contracts';
import { checkEnvelopeIds, inSpan, PoisonMessageError, runConsumed } from '@shop/platform';
import type { SagaReply } from '../domain/saga';
import { decideMismatchedAuthorization, decideReply } from '../domain/saga';
import { lockSagaAndOrder } from '../adapters/db/orders-repo';
import { applyPlan } from './apply-plan';
import type { AppDeps } from './deps';

const REPLY_BY_CASE: Partial<Record<NonNullable<Envelope['payload']>['$case'], SagaReply>> = {
  stockReserved: 'StockReserved',
  stockRejected: 'StockRejected',
  stockCommitted: 'StockCommitted',
  stockReleased: 'StockReleased',
  paymentAuthorized: 'PaymentAuthorized',
  paymentDeclined: 'PaymentDeclined',
  paymentRefunded: 'PaymentRefunded',
};

/**
 * One reply from inventory or payments, in ONE transaction: idempotent-consumer record, saga decision, order and
 * saga update, next commands and events. A message that can never be processed is poison (dead-lettered at once).
 */
export async function handleReply(deps: AppDeps, envelope: Envelope): Promise<'processed' | 'duplicate'> {
  const payloadCase = envelope.payload?.$case;
  const reply = payloadCase ? REPLY_BY_CASE[payloadCase] : undefined;
  if (!reply) throw new PoisonMessageError(`${envelope.type} is not a reply the order saga consumes`);
  checkEnvelopeIds(envelope);
  // One span per saga step taken: which step the reply answered, how, and what the saga does next. Ids and
  // reasons only, never customer data.
  return inSpan(`saga ${reply}`, { 'saga.reply': reply }, async (span) => {
    const outcome = await runConsumed(deps, envelope.messageId, async (tx, outbox) => {
      const { saga, order } = (await lockSagaAndOrder(tx, envelope.orderId)) ?? {};
      // Commands are sent only after the order committed, so a reply for an unknown order can never be applied.
      if (!saga || !order) throw new PoisonMessageError(`${reply} for unknown order ${envelope.orderId}`);
      const state = { step: saga.step, pending: saga.pending };
      const payload = envelope.payload;
      // The amount is checked, not trusted: an authorization of another amount never approves the order.
      const mismatch =
        payload?.$case === 'paymentAuthorized' && payload.value.amountCents !== order.totalCents
          ? { authorizedCents: payload.value.amountCents, totalCents: order.totalCents }
          : undefined;
      if (mismatch)
        deps.logger.warn(
          { orderId: order.id, messageId: envelope.messageId, ...mismatch },
          'payment authorized for another amount than the order total',
        );
      const plan = mismatch
        ? decideMismatchedAuthorization(state, order.status)
        : decideReply(state, order.status, reply);
      span.setAttributes({
        'saga.step': saga.step,
        'saga.decision': plan.kind,
        'saga.outcome': plan.stepOutcome?.outcome ?? 'none',
        ...(plan.order ? { 'order.status': plan.order.status } : {}),
        ...(plan.order?.reason ? { 'order.rejection_reason': plan.order.reason } : {}),
      });
      if (plan.kind === 'ignore') {
        deps.logger.info(
          { orderId: order.id, reply, messageId: envelope.messageId, why: plan.why },
          'saga reply ignored',
        );
        return () => undefined;
      }
      if (plan.kind === 'compensate') {
        deps.logger.warn(
          { orderId: order.id, reply, commands: plan.commands, why: plan.why },
          'late reply compensated',
        );
      }
      const applied = await applyPlan(tx, outbox, deps, order, saga, plan, new Date(), envelope.messageId);
      return applied.afterCommit;
    });
    if (outcome.duplicate) {
      span.setAttribute('saga.decision', 'duplicate');
      return 'duplicate';
    }
    outcome.result();
    return 'processed';
  });
}
