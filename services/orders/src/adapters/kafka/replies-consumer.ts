import { decodeEnvelope, readVersionedEnvelope, Topics } from '@shop/contracts';
import type { SubscribeOptions } from '@shop/platform';
import { handleReply } from '../../app/handle-reply';
import type { AppDeps } from '../../app/deps';

export const ORDERS_GROUP = 'orders';

/** The saga's inbox: replies of inventory and payments (decodeEnvelope throws InvalidMessageError: poison, DLT). */
export function repliesConsumer(
  deps: AppDeps,
  reader: 'versioned' | 'v1-only' = 'versioned',
): SubscribeOptions {
  // versioned: a producer deployed ahead with a new message version (incident scenario 4) keeps the saga going.
  const read = reader === 'versioned' ? readVersionedEnvelope : decodeEnvelope;
  return {
    groupId: ORDERS_GROUP,
    topics: [Topics.inventoryReplies, Topics.paymentsReplies],
    handle: (message) => handleReply(deps, read(message.value)),
  };
}
