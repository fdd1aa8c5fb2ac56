import { validationFailed } from '../domain/errors';
import type { Order } from '../domain/order';
import { encodePageToken, validateListOrders } from '../domain/validation';
import { listOrders as selectOrders } from '../adapters/db/orders-repo';
import type { AppDeps } from './deps';

/** Newest first; the token is an opaque keyset cursor (created_at, id) of the last order of the page. */
export async function listOrders(
  deps: Pick<AppDeps, 'pool'>,
  input: {
    customerId: string;
    allCustomers: boolean;
    status: string | null;
    pageSize: number;
    pageToken: string;
  },
): Promise<{ orders: Order[]; nextPageToken: string }> {
  const v = validateListOrders(input);
  if (v.violations.length > 0) throw validationFailed(v.violations);
  const rows = await selectOrders(deps.pool, {
    customerId: input.customerId,
    status: v.status,
    cursor: v.cursor,
    limit: v.pageSize + 1,
  });
  const page = rows.slice(0, v.pageSize);
  const last = page[page.length - 1];
  return {
    orders: page,
    nextPageToken:
      rows.length > v.pageSize && last ? encodePageToken({ createdAt: last.createdAt, id: last.id }) : '',
  };
}
