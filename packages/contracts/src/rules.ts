// The identifier and limit rules every edge of the platform states the same way: the gateway's openapi.yaml (a test
// there compares each pattern and bound with these), the gateway's messages, and the backends' own checks. Each rule
// is a plain value with the sentence a violation carries, so a client reads the same words whichever service
// refused it. No dependencies, and its own entry point (`@shop/contracts/rules`): a service's pure domain imports it
// without the generated gRPC code the package's main entry brings.

/** A string rule: the whole value must match `pattern`; `message` completes "<field> ...". */
export interface StringRule {
  readonly pattern: RegExp;
  readonly message: string;
}

/** An integer rule: `min` to `max` inclusive; `message` completes "<field> ...". */
export interface IntegerRule {
  readonly min: number;
  readonly max: number;
  readonly message: string;
}

/** Who places orders: `alice`, `team-42.eu`; 1 to 64 characters, no spaces or slashes. */
export const CUSTOMER_ID: StringRule = {
  pattern: /^[A-Za-z0-9._-]{1,64}$/,
  message: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ -',
};

/** A product's stock-keeping unit, as `GET /v1/products` lists it (whether it exists is the catalogue's call). */
export const SKU: StringRule = {
  pattern: /^[A-Za-z0-9._-]{1,64}$/,
  message: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ -',
};

/** Order and payment ids (any UUID version, either case). */
export const UUID: StringRule = {
  pattern: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
  message: 'must be a UUID',
};

/**
 * A page cursor: what ListOrders hands out (base64url, at most 200 characters). Stating the alphabet lets a client
 * tell a mangled cursor from a stale one; only orders can tell whether a well-formed cursor is one of its own.
 */
export const CURSOR: StringRule = {
  pattern: /^[A-Za-z0-9_-]{1,200}$/,
  message: 'must be a nextCursor returned by this endpoint',
};

/** `Idempotency-Key`: opaque to the platform, 1 to 128 printable US-ASCII characters (space included). */
export const IDEMPOTENCY_KEY: StringRule = {
  pattern: /^[\x20-\x7e]{1,128}$/,
  message: 'must be 1 to 128 printable ASCII characters',
};

/** Units of one sku in one order line. */
export const QUANTITY: IntegerRule = { min: 1, max: 1000, message: 'must be between 1 and 1000' };

/** Lines of one order (each sku at most once). */
export const ORDER_LINES: IntegerRule = { min: 1, max: 100, message: 'must contain 1 to 100 lines' };

/** Orders per page of a listing. */
export const PAGE_SIZE: IntegerRule = {
  min: 1,
  max: 100,
  message: 'must be a whole number between 1 and 100',
};

/** The page size when a listing does not say. */
export const DEFAULT_PAGE_SIZE = 20;

/** The message of a rule `value` breaks, or undefined when it keeps it. */
export function checkString(rule: StringRule, value: string): string | undefined {
  return rule.pattern.test(value) ? undefined : rule.message;
}

/** The message of an integer rule `value` breaks (a fraction breaks every one), or undefined. */
export function checkInteger(rule: IntegerRule, value: number): string | undefined {
  return Number.isInteger(value) && value >= rule.min && value <= rule.max ? undefined : rule.message;
}

/** The message for the second and later occurrence of a sku in one order, naming the first. */
export const duplicateSkuMessage = (firstIndex: number): string =>
  `duplicates items[${firstIndex}].sku; order each sku once with its total quantity`;

/** One violated rule: the field (as the caller names it) and the sentence completing "<field> ...". */
export interface RuleViolation {
  field: string;
  message: string;
}

/**
 * Every violation of an order's lines at once: 1 to 100 lines, each a well-formed sku (once) and a quantity of 1 to
 * 1000. `field` is the list's name as the caller spells it (`items`); lines are `items[i].sku`, `items[i].quantity`.
 */
export function orderLineViolations(
  items: readonly { sku: string; quantity: number }[],
  field = 'items',
): RuleViolation[] {
  const out: RuleViolation[] = [];
  const lines = checkInteger(ORDER_LINES, items.length);
  if (lines) out.push({ field, message: lines });
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const sku = checkString(SKU, item.sku);
    if (sku) out.push({ field: `${field}[${i}].sku`, message: sku });
    else if (first.has(item.sku))
      out.push({ field: `${field}[${i}].sku`, message: duplicateSkuMessage(first.get(item.sku) ?? 0) });
    else first.set(item.sku, i);
    const quantity = checkInteger(QUANTITY, item.quantity);
    if (quantity) out.push({ field: `${field}[${i}].quantity`, message: quantity });
  });
  return out;
}
