import type { Envelope, Payload } from '@shop/contracts';
import { outgoingMessage } from '@shop/contracts';
import type { Logger, UnitOfWorkDeps } from '@shop/platform';
import { runConsumed } from '@shop/platform';
import type { AuthorizeInput } from '../domain/validation';
import { authorizePayment } from './authorize-payment';
import { refundPayment } from './refund-payment';

export interface PaymentCommandDeps extends UnitOfWorkDeps {
  logger: Logger;
  creditLimitCents: number;
}

/** A command of payments.commands.v1, validated by the Kafka adapter. */
export type PaymentCommand =
  { kind: 'authorize'; command: AuthorizeInput } | { kind: 'refund'; command: { orderId: string } };

/** The consumed message a command came in: its id is the deduplication key and the reply's causation id. */
export type ConsumedMessage = Pick<Envelope, 'messageId' | 'orderId'>;

/**
 * One payment command in one unit of work: the message id, the state change and the reply (outbox) commit together,
 * so a redelivery finds its id recorded and changes nothing.
 */
export async function handlePaymentCommand(
  deps: PaymentCommandDeps,
  message: ConsumedMessage,
  cmd: PaymentCommand,
): Promise<'processed' | 'duplicate'> {
  const log = deps.logger;
  const outcome = await runConsumed(deps, message.messageId, async (tx, outbox) => {
    const reply = (payload: Payload) =>
      outbox.send(outgoingMessage(payload, { causationId: message.messageId }));
    if (cmd.kind === 'authorize') {
      const { orderId } = cmd.command;
      const result = await authorizePayment(tx, cmd.command, deps);
      reply(
        result.outcome === 'AUTHORIZED'
          ? {
              $case: 'paymentAuthorized',
              value: { orderId, paymentId: result.paymentId, amountCents: result.amountCents },
            }
          : { $case: 'paymentDeclined', value: { orderId, reason: result.reason } },
      );
      // Ids and amounts only: customer ids and any payment instrument data stay out of logs.
      log.info(
        {
          orderId,
          paymentId: result.paymentId,
          outcome: result.outcome,
          replayed: result.replayed,
          messageId: message.messageId,
        },
        'authorization handled',
      );
    } else {
      const { orderId } = cmd.command;
      const result = await refundPayment(tx, cmd.command);
      reply({ $case: 'paymentRefunded', value: { orderId, paymentId: result.paymentId } });
      log.info(
        {
          orderId,
          paymentId: result.paymentId || null,
          refunded: result.paymentId !== '',
          messageId: message.messageId,
        },
        'refund handled',
      );
    }
  });
  if (!outcome.duplicate) return 'processed';
  log.info({ orderId: message.orderId, messageId: message.messageId }, 'duplicate message ignored');
  return 'duplicate';
}
