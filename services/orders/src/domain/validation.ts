import {
  CURSOR,
  CUSTOMER_ID,
  DEFAULT_PAGE_SIZE,
  IDEMPOTENCY_KEY,
  PAGE_SIZE,
  UUID,
  checkString,
  orderLineViolations,
} from '@shop/contracts/rules';
import type { Violation } from './errors';
import { ORDER_STATUSES, type OrderStatus } from './order';

// The identifier and limit rules are the platform's (@shop/contracts/rules): the gateway's openapi.yaml states the
// same patterns, bounds and words, so a client reads one sentence whichever edge refused it.
export { DEFAULT_PAGE_SIZE };
export const MAX_PAGE_SIZE = PAGE_SIZE.max;

export const isUuid = (value: string) => UUID.pattern.test(value);

export interface PlaceOrderInput {
  customerId: string;
  items: { sku: string; quantity: number }[];
  idempotencyKey?: string;
}

export function validateCustomerId(value: string, field = 'customer_id'): Violation[] {
  if (value === '') return [{ field, description: 'is required' }];
  const broken = checkString(CUSTOMER_ID, value);
  return broken ? [{ field, description: broken }] : [];
}

export function validateOrderId(value: string, field = 'order_id'): Violation[] {
  if (value === '') return [{ field, description: 'is required' }];
  if (!isUuid(value)) return [{ field, description: UUID.message }];
  return [];
}

/** Every violation of a PlaceOrder request at once (the caller learns all its mistakes in one round trip). */
export function validatePlaceOrder(input: PlaceOrderInput): Violation[] {
  const out = validateCustomerId(input.customerId);
  for (const v of orderLineViolations(input.items)) out.push({ field: v.field, description: v.message });
  if (input.idempotencyKey !== undefined) {
    const broken = checkString(IDEMPOTENCY_KEY, input.idempotencyKey);
    if (broken) out.push({ field: 'idempotency_key', description: broken });
  }
  return out;
}

/** A canonical form of a PlaceOrder request: the same order in another item order is the same request. */
export function normalizedPlaceOrder(input: PlaceOrderInput): string {
  const items = [...input.items]
    .sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0))
    .map((i) => [i.sku, i.quantity]);
  return JSON.stringify({ customerId: input.customerId, items });
}

export interface ListOrdersInput {
  customerId: string;
  status: OrderStatus | null;
  pageSize: number;
  pageToken: string;
}

export interface PageCursor {
  createdAt: Date;
  id: string;
}

export function encodePageToken(c: PageCursor): string {
  return Buffer.from(JSON.stringify({ t: c.createdAt.toISOString(), i: c.id }), 'utf8').toString('base64url');
}

export function decodePageToken(token: string): PageCursor | undefined {
  if (!CURSOR.pattern.test(token)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null) return undefined;
    const { t, i } = v as { t?: unknown; i?: unknown };
    if (typeof t !== 'string' || typeof i !== 'string' || !isUuid(i)) return undefined;
    const createdAt = new Date(t);
    if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== t) return undefined;
    return { createdAt, id: i };
  } catch {
    return undefined;
  }
}

export function validateListOrders(input: {
  customerId: string;
  allCustomers: boolean;
  status: string | null;
  pageSize: number;
  pageToken: string;
}): {
  violations: Violation[];
  pageSize: number;
  cursor: PageCursor | undefined;
  status: OrderStatus | null;
} {
  const violations: Violation[] = [];
  // An empty customer is a forgotten filter, not "everyone": listing all orders takes the explicit operator flag.
  if (input.allCustomers) {
    if (input.customerId !== '')
      violations.push({ field: 'all_customers', description: 'must be false when customer_id is given' });
  } else if (input.customerId === '') {
    violations.push({
      field: 'customer_id',
      description: 'is required (all_customers lists every customer)',
    });
  } else violations.push(...validateCustomerId(input.customerId));
  let status: OrderStatus | null = null;
  if (input.status !== null) {
    if ((ORDER_STATUSES as readonly string[]).includes(input.status)) status = input.status as OrderStatus;
    else
      violations.push({
        field: 'status',
        description: `must be one of ${ORDER_STATUSES.join(', ')} or unspecified`,
      });
  }
  let pageSize = DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(input.pageSize) || input.pageSize < 0) {
    violations.push({
      field: 'page_size',
      description: `must be 0 (default ${DEFAULT_PAGE_SIZE}) or a positive integer`,
    });
  } else if (input.pageSize > 0) pageSize = Math.min(input.pageSize, MAX_PAGE_SIZE);
  let cursor: PageCursor | undefined;
  if (input.pageToken !== '') {
    cursor = decodePageToken(input.pageToken);
    if (!cursor) violations.push({ field: 'page_token', description: CURSOR.message });
  }
  return { violations, pageSize, cursor, status };
}
