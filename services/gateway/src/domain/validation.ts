// Input validation of the REST edge (issue 3, Bad input). Every violation names its field precisely, as a JSON path
// for bodies (`items[2].quantity`), as the parameter name for path and query parameters, as the header name for
// headers. All violations of a request are reported at once.
import type {
  ListOrdersInput,
  ListPaymentsInput,
  OrderItemInput,
  OrderStatus,
  PlaceOrderInput,
  Violation,
} from './model';
import { ORDER_STATUSES, ValidationError } from './model';

export const LIMITS = {
  maxLines: 100,
  maxQuantity: 1000,
  maxIdempotencyKey: 128,
  maxCursor: 512,
  defaultPageSize: 20,
  maxPageSize: 100,
} as const;

const CUSTOMER_ID = /^[A-Za-z0-9._-]{1,64}$/;
// What GET /v1/products lists; the catalogue itself decides whether a well-formed sku exists.
const SKU = /^[A-Za-z0-9._-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CURSOR = /^[A-Za-z0-9_=+/.-]+$/;
// Printable US-ASCII, space included (RFC 9110 field values; an idempotency key is opaque to us).
const PRINTABLE = /^[\x20-\x7e]+$/;

const MESSAGES = {
  required: 'is required',
  unknown: 'is not a known field',
  customerId: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ -',
  sku: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ -',
  uuid: 'must be a UUID',
};

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `items[0].quantity`, or `items[0]["odd key"]` when a key is not a plain identifier. */
export const jsonPath = (parent: string, key: string): string => {
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
};

function unknownKeys(
  obj: Record<string, unknown>,
  allowed: readonly string[],
  parent: string,
  out: Violation[],
): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) out.push({ field: jsonPath(parent, key), message: MESSAGES.unknown });
  }
}

function checkString(
  value: unknown,
  field: string,
  pattern: RegExp,
  message: string,
  out: Violation[],
): value is string {
  if (value === undefined) out.push({ field, message: MESSAGES.required });
  else if (typeof value !== 'string')
    out.push({ field, message: `must be a string, not ${typeName(value)}` });
  else if (value === '') out.push({ field, message: 'must not be empty' });
  else if (!pattern.test(value)) out.push({ field, message });
  else return true;
  return false;
}

function checkQuantity(value: unknown, field: string, out: Violation[]): value is number {
  if (value === undefined) out.push({ field, message: MESSAGES.required });
  else if (typeof value !== 'number')
    out.push({ field, message: `must be a number, not ${typeName(value)}` });
  else if (!Number.isInteger(value)) out.push({ field, message: 'must be a whole number' });
  else if (value < 1 || value > LIMITS.maxQuantity)
    out.push({ field, message: `must be between 1 and ${LIMITS.maxQuantity}` });
  else return true;
  return false;
}

function fail(violations: Violation[]): never {
  throw new ValidationError(violations);
}

/** The body of `POST /v1/orders`; throws ValidationError listing every problem. */
export function parsePlaceOrder(body: unknown, idempotencyKey: unknown): PlaceOrderInput {
  const out: Violation[] = [];
  const key = parseIdempotencyKey(idempotencyKey, out);
  if (body === undefined)
    fail([{ field: 'body', message: 'is required: a JSON object { customerId, items }' }, ...out]);
  if (!isObject(body))
    fail([{ field: 'body', message: `must be a JSON object, not ${typeName(body)}` }, ...out]);
  unknownKeys(body, ['customerId', 'items'], '', out);
  const customerOk = checkString(body.customerId, 'customerId', CUSTOMER_ID, MESSAGES.customerId, out);
  const items: OrderItemInput[] = [];
  const raw = body.items;
  if (raw === undefined) out.push({ field: 'items', message: MESSAGES.required });
  else if (!Array.isArray(raw))
    out.push({ field: 'items', message: `must be an array, not ${typeName(raw)}` });
  else if (raw.length === 0)
    out.push({ field: 'items', message: `must contain 1 to ${LIMITS.maxLines} lines` });
  else if (raw.length > LIMITS.maxLines) {
    out.push({ field: 'items', message: `must contain at most ${LIMITS.maxLines} lines, got ${raw.length}` });
  } else {
    const seen = new Map<string, number>();
    raw.forEach((item: unknown, i) => {
      const path = `items[${i}]`;
      if (!isObject(item)) {
        out.push({ field: path, message: `must be an object { sku, quantity }, not ${typeName(item)}` });
        return;
      }
      unknownKeys(item, ['sku', 'quantity'], path, out);
      const skuOk = checkString(item.sku, `${path}.sku`, SKU, MESSAGES.sku, out);
      const qtyOk = checkQuantity(item.quantity, `${path}.quantity`, out);
      if (skuOk) {
        const first = seen.get(item.sku as string);
        if (first !== undefined) {
          out.push({
            field: `${path}.sku`,
            message: `duplicates items[${first}].sku; order each sku once with its total quantity`,
          });
        } else seen.set(item.sku as string, i);
      }
      if (skuOk && qtyOk) items.push({ sku: item.sku as string, quantity: item.quantity as number });
    });
  }
  if (out.length > 0 || !customerOk) fail(out);
  return {
    customerId: body.customerId as string,
    items,
    ...(key !== undefined ? { idempotencyKey: key } : {}),
  };
}

function parseIdempotencyKey(value: unknown, out: Violation[]): string | undefined {
  const field = 'Idempotency-Key';
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    const count = Array.isArray(value) ? `, got ${value.length} headers` : '';
    out.push({ field, message: `must be given once${count}` });
    return undefined;
  }
  if (value.length === 0 || value.length > LIMITS.maxIdempotencyKey) {
    out.push({ field, message: `must be 1 to ${LIMITS.maxIdempotencyKey} characters, got ${value.length}` });
  } else if (!PRINTABLE.test(value)) {
    out.push({ field, message: 'must contain printable ASCII characters only' });
  } else return value;
  return undefined;
}

/** A path parameter that must be a UUID (order ids). */
export function parseUuid(value: unknown, field: string): string {
  if (typeof value !== 'string' || !UUID.test(value)) fail([{ field, message: MESSAGES.uuid }]);
  return value.toLowerCase();
}

/** The `{sku}` path parameter. */
export function parseSku(value: unknown): string {
  const out: Violation[] = [];
  if (!checkString(value, 'sku', SKU, MESSAGES.sku, out)) fail(out);
  return value;
}

/** Bodies of action endpoints (`/cancel`): nothing, or an empty JSON object. */
export function parseEmptyBody(body: unknown): void {
  if (body === undefined) return;
  if (!isObject(body))
    fail([{ field: 'body', message: `must be empty or an empty JSON object, not ${typeName(body)}` }]);
  const out: Violation[] = [];
  unknownKeys(body, [], '', out);
  if (out.length > 0) fail(out);
}

type Query = Record<string, unknown>;

/** Query parameters: known names only, each at most once; an empty value counts as absent. */
function queryValues(query: unknown, allowed: readonly string[], out: Violation[]): Record<string, string> {
  const values: Record<string, string> = {};
  const q: Query = isObject(query) ? query : {};
  for (const [name, value] of Object.entries(q)) {
    if (!allowed.includes(name)) out.push({ field: name, message: 'is not a known query parameter' });
    else if (typeof value !== 'string') out.push({ field: name, message: 'must be given once' });
    else if (value !== '') values[name] = value;
  }
  return values;
}

/** `GET /v1/orders?customerId=&status=&limit=&cursor=` */
export function parseListOrders(query: unknown): ListOrdersInput {
  const out: Violation[] = [];
  const q = queryValues(query, ['customerId', 'status', 'limit', 'cursor'], out);
  const customerOk = checkString(q.customerId, 'customerId', CUSTOMER_ID, MESSAGES.customerId, out);
  let status: OrderStatus | undefined;
  if (q.status !== undefined) {
    if ((ORDER_STATUSES as readonly string[]).includes(q.status)) status = q.status as OrderStatus;
    else out.push({ field: 'status', message: `must be one of ${ORDER_STATUSES.join(', ')}` });
  }
  let limit: number = LIMITS.defaultPageSize;
  if (q.limit !== undefined) {
    const n = /^\d{1,3}$/.test(q.limit) ? Number(q.limit) : NaN;
    if (n >= 1 && n <= LIMITS.maxPageSize) limit = n;
    else out.push({ field: 'limit', message: `must be a whole number between 1 and ${LIMITS.maxPageSize}` });
  }
  if (q.cursor !== undefined && (q.cursor.length > LIMITS.maxCursor || !CURSOR.test(q.cursor))) {
    out.push({ field: 'cursor', message: 'must be a nextCursor returned by this endpoint' });
  }
  if (out.length > 0 || !customerOk) fail(out);
  return {
    customerId: q.customerId as string,
    limit,
    ...(status ? { status } : {}),
    ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
  };
}

/** `GET /v1/payments?orderId=` (or `?customerId=`); at least one filter. */
export function parseListPayments(query: unknown): ListPaymentsInput {
  const out: Violation[] = [];
  const q = queryValues(query, ['orderId', 'customerId'], out);
  if (q.orderId !== undefined && !UUID.test(q.orderId))
    out.push({ field: 'orderId', message: MESSAGES.uuid });
  if (q.customerId !== undefined && !CUSTOMER_ID.test(q.customerId)) {
    out.push({ field: 'customerId', message: MESSAGES.customerId });
  }
  if (q.orderId === undefined && q.customerId === undefined && out.length === 0) {
    out.push({ field: 'orderId', message: 'is required (or filter by customerId)' });
  }
  if (out.length > 0) fail(out);
  return {
    ...(q.orderId !== undefined ? { orderId: q.orderId.toLowerCase() } : {}),
    ...(q.customerId !== undefined ? { customerId: q.customerId } : {}),
  };
}
