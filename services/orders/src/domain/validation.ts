import type { Violation } from './errors';
import { ORDER_STATUSES, type OrderStatus } from './order';

const ID_CHARS = /^[A-Za-z0-9._-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PRINTABLE_ASCII = /^[\x20-\x7e]{1,128}$/;

export const MAX_ITEMS = 100;
export const MAX_QUANTITY = 1000;
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export const isUuid = (value: string) => UUID.test(value);

export interface PlaceOrderInput {
  customerId: string;
  items: { sku: string; quantity: number }[];
  idempotencyKey?: string;
}

export function validateCustomerId(value: string, field = 'customer_id'): Violation[] {
  if (value === '') return [{ field, description: 'is required' }];
  if (!ID_CHARS.test(value))
    return [{ field, description: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ -' }];
  return [];
}

export function validateOrderId(value: string, field = 'order_id'): Violation[] {
  if (value === '') return [{ field, description: 'is required' }];
  if (!isUuid(value)) return [{ field, description: 'must be a UUID' }];
  return [];
}

/** Every violation of a PlaceOrder request at once (the caller learns all its mistakes in one round trip). */
export function validatePlaceOrder(input: PlaceOrderInput): Violation[] {
  const out = validateCustomerId(input.customerId);
  if (input.items.length === 0) out.push({ field: 'items', description: 'must contain 1 to 100 items' });
  if (input.items.length > MAX_ITEMS)
    out.push({ field: 'items', description: `must contain at most ${MAX_ITEMS} items` });
  const seen = new Map<string, number>();
  input.items.forEach((item, i) => {
    if (item.sku === '') out.push({ field: `items[${i}].sku`, description: 'is required' });
    else if (!ID_CHARS.test(item.sku))
      out.push({ field: `items[${i}].sku`, description: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ -' });
    else if (seen.has(item.sku))
      out.push({ field: `items[${i}].sku`, description: `duplicates items[${seen.get(item.sku)}].sku` });
    else seen.set(item.sku, i);
    if (!Number.isInteger(item.quantity) || item.quantity < 1 || item.quantity > MAX_QUANTITY) {
      out.push({
        field: `items[${i}].quantity`,
        description: `must be an integer from 1 to ${MAX_QUANTITY}`,
      });
    }
  });
  if (input.idempotencyKey !== undefined && !PRINTABLE_ASCII.test(input.idempotencyKey)) {
    out.push({ field: 'idempotency_key', description: 'must be 1 to 128 printable ASCII characters' });
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
  if (token.length > 200 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
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
    if (!cursor)
      violations.push({ field: 'page_token', description: 'is not a token returned by ListOrders' });
  }
  return { violations, pageSize, cursor, status };
}
