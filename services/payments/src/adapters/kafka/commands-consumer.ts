import { decodeEnvelope, Topics } from '@shop/contracts';
import type { BackendContext, IncomingMessage, SubscribeOptions } from '@shop/platform';
import { checkEnvelopeIds, PoisonMessageError } from '@shop/platform';
import type { PaymentCommand } from '../../app/handle-payment-command';
import { handlePaymentCommand } from '../../app/handle-payment-command';
import type { Violation } from '../../domain/errors';
import { validateAuthorize, validateRefund } from '../../domain/validation';

export const CONSUMER_GROUP = 'payments';

function poisonIf(what: string, violations: Violation[]): void {
  if (violations.length === 0) return;
  throw new PoisonMessageError(
    `invalid ${what}: ${violations.map((v) => `${v.field} ${v.description}`).join('; ')}`,
  );
}

/** Consumer of payments.commands.v1: decode, validate, hand the command to its use case. */
export function paymentCommandsConsumer(
  ctx: BackendContext,
  opts: { creditLimitCents: number },
): SubscribeOptions {
  const deps = { ...ctx, logger: ctx.logger.child({ component: 'payment-commands' }), ...opts };

  function parseCommand(message: IncomingMessage): {
    envelope: { messageId: string; orderId: string };
    cmd: PaymentCommand;
  } {
    const envelope = decodeEnvelope(message.value); // InvalidMessageError: dead-lettered at once
    checkEnvelopeIds(envelope);
    const payload = envelope.payload;
    if (payload?.$case === 'authorizePayment') {
      poisonIf('AuthorizePayment', validateAuthorize(payload.value));
      return { envelope, cmd: { kind: 'authorize', command: payload.value } };
    }
    if (payload?.$case === 'refundPayment') {
      poisonIf('RefundPayment', validateRefund(payload.value));
      return { envelope, cmd: { kind: 'refund', command: payload.value } };
    }
    throw new PoisonMessageError(`unexpected message type ${envelope.type} on ${message.topic}`);
  }

  return {
    groupId: CONSUMER_GROUP,
    topics: [Topics.paymentsCommands],
    handle: (message) => {
      const { envelope, cmd } = parseCommand(message);
      return handlePaymentCommand(deps, envelope, cmd);
    },
  };
}
