import type { Envelope } from '@shop/contracts';
import { decodeEnvelope, encodeEnvelope, newEnvelope, Topics } from '@shop/contracts';
import type { BackendContext, IncomingMessage, OutboxMessage, SubscribeOptions } from '@shop/platform';
import { enqueue, firstDelivery, PoisonMessageError, withTransaction } from '@shop/platform';
import { authorizePayment } from '../../app/authorize-payment';
import { refundPayment } from '../../app/refund-payment';
import type { Violation } from '../../domain/errors';
import { isUuid, validateAuthorize, validateRefund } from '../../domain/validation';

export const CONSUMER_GROUP = 'payments';

type Payload = NonNullable<Envelope['payload']>;

function poisonIf(what: string, violations: Violation[]): void {
  if (violations.length === 0) return;
  throw new PoisonMessageError(
    `invalid ${what}: ${violations.map((v) => `${v.field} ${v.description}`).join('; ')}`,
  );
}

function reply(payload: Payload, causationId: string): OutboxMessage {
  const envelope = newEnvelope(payload, { causationId });
  return { topic: Topics.paymentsReplies, key: envelope.orderId, value: encodeEnvelope(envelope) };
}

/**
 * Consumer of payments.commands.v1. One transaction per message: the message id, the state change and the reply
 * (outbox) commit together, so a redelivery finds its id recorded and changes nothing.
 */
export function paymentCommandsConsumer(
  ctx: BackendContext,
  opts: { creditLimitCents: number },
): SubscribeOptions {
  const log = ctx.logger.child({ component: 'payment-commands' });

  async function handle(message: IncomingMessage): Promise<'processed' | 'duplicate'> {
    const envelope = decodeEnvelope(message.value); // InvalidMessageError: dead-lettered at once
    const payload = envelope.payload;
    if (!isUuid(envelope.messageId))
      throw new PoisonMessageError('invalid envelope: message_id must be a UUID');
    if (payload?.$case === 'authorizePayment') poisonIf('AuthorizePayment', validateAuthorize(payload.value));
    else if (payload?.$case === 'refundPayment') poisonIf('RefundPayment', validateRefund(payload.value));
    else throw new PoisonMessageError(`unexpected message type ${envelope.type} on ${message.topic}`);

    const outcome = await withTransaction(ctx.pool, async (tx) => {
      if (!(await firstDelivery(tx, envelope.messageId))) return 'duplicate' as const;
      if (payload.$case === 'authorizePayment') {
        const cmd = payload.value;
        const result = await authorizePayment(tx, cmd, opts);
        const out: Payload =
          result.outcome === 'AUTHORIZED'
            ? {
                $case: 'paymentAuthorized',
                value: { orderId: cmd.orderId, paymentId: result.paymentId, amountCents: result.amountCents },
              }
            : { $case: 'paymentDeclined', value: { orderId: cmd.orderId, reason: result.reason } };
        await enqueue(tx, [reply(out, envelope.messageId)]);
        // Ids and amounts only: customer ids and any payment instrument data stay out of logs.
        log.info(
          {
            orderId: cmd.orderId,
            paymentId: result.paymentId,
            outcome: result.outcome,
            replayed: result.replayed,
            messageId: envelope.messageId,
          },
          'authorization handled',
        );
      } else {
        const result = await refundPayment(tx, payload.value);
        await enqueue(tx, [
          reply(
            {
              $case: 'paymentRefunded',
              value: { orderId: payload.value.orderId, paymentId: result.paymentId },
            },
            envelope.messageId,
          ),
        ]);
        log.info(
          {
            orderId: payload.value.orderId,
            paymentId: result.paymentId || null,
            refunded: result.paymentId !== '',
            messageId: envelope.messageId,
          },
          'refund handled',
        );
      }
      return 'processed' as const;
    });
    if (outcome === 'processed') ctx.relay.notify();
    else log.info({ orderId: envelope.orderId, messageId: envelope.messageId }, 'duplicate message ignored');
    return outcome;
  }

  return { groupId: CONSUMER_GROUP, topics: [Topics.paymentsCommands], handle };
}
