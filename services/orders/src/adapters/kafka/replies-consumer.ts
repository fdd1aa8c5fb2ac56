import { decodeEnvelope, Topics } from '@shop/contracts';
import type { SubscribeOptions } from '@shop/platform';
import { handleReply } from '../../app/handle-reply';
import type { AppDeps } from '../../app/deps';

export const ORDERS_GROUP = 'orders';

/** The saga's inbox: replies of inventory and payments (decodeEnvelope throws InvalidMessageError: poison, DLT). */
export function repliesConsumer(deps: AppDeps): SubscribeOptions {
  return {
    groupId: ORDERS_GROUP,
    topics: [Topics.inventoryReplies, Topics.paymentsReplies],
    handle: (message) => handleReply(deps, decodeEnvelope(message.value)),
  };
}
