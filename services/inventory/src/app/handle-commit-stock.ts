import { DomainError } from '../domain/errors';
import type { Queryable } from '@shop/platform';
import type { StockReply } from '../domain/stock';
import { assertOrderTransition } from '../domain/stock';
import { lockOrder, setOrderAndLinesStatus } from '../adapters/db/stock-repo';

export interface CommitStockCommand {
  orderId: string;
}

/**
 * The order is approved: its reservation becomes committed. Idempotent for a committed order. Committing an order
 * that holds nothing (unknown, rejected or released) is a STOCK_INVALID_TRANSITION: the command can never succeed.
 */
export async function handleCommitStock(tx: Queryable, cmd: CommitStockCommand): Promise<StockReply> {
  const order = await lockOrder(tx, cmd.orderId);
  if (!order)
    throw new DomainError(
      'STOCK_INVALID_TRANSITION',
      `order ${cmd.orderId}: nothing reserved, cannot commit`,
    );
  if (order.status === 'COMMITTED') return { kind: 'committed' };
  assertOrderTransition(cmd.orderId, order.status, 'COMMITTED');
  await setOrderAndLinesStatus(tx, cmd.orderId, ['RESERVED'], 'COMMITTED', 'COMMITTED');
  return { kind: 'committed' };
}
