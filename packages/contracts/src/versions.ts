// Message versions beyond v1. A producer may be deployed with a new version of a message before its consumers are
// (incident scenario 4: a breaking payments change); a tolerant, versioned reader upcasts every version it knows to
// the type the code handles, ignores fields it does not know, and dead-letters versions it has never heard of with
// a reason naming the version. Versions are explicit type names (`payments.PaymentAuthorized.v2`), never inferred.
import { decodeEnvelope, encodeEnvelope, InvalidMessageError } from './envelope';
import type { Envelope } from './gen/messaging/v1/envelope';
import { MessageTypes } from './topics';

/**
 * payments.PaymentAuthorized.v2: the amount became an object with its currency (a breaking change for a v1 reader:
 * `amountCents` is gone), and the authorization time was added.
 */
export interface PaymentAuthorizedV2 {
  orderId: string;
  paymentId: string;
  amount: { cents: number; currency: string };
  authorizedAt: string;
}

interface NextVersion {
  /** The new type name on the wire. */
  type: string;
  /** Writes a v1 envelope as the next version (what a producer deployed ahead sends). */
  write(envelope: Envelope): Buffer;
  /** Reads the next version's JSON payload back as the v1 payload (the consumer's upcaster). */
  upcast(payload: unknown, envelope: Record<string, unknown>): Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The next version of each message type that has one. */
export const NEXT_VERSIONS: Readonly<Record<string, NextVersion>> = {
  [MessageTypes.PaymentAuthorized]: {
    type: 'payments.PaymentAuthorized.v2',
    write(envelope) {
      if (envelope.payload?.$case !== 'paymentAuthorized')
        throw new Error(`not a PaymentAuthorized message: ${envelope.type}`);
      const v1 = JSON.parse(encodeEnvelope(envelope).toString('utf8')) as Record<string, unknown>;
      const p = envelope.payload.value;
      const v2: PaymentAuthorizedV2 = {
        orderId: p.orderId,
        paymentId: p.paymentId,
        amount: { cents: p.amountCents, currency: 'EUR' },
        authorizedAt: (envelope.occurredAt ?? new Date()).toISOString(),
      };
      delete v1.paymentAuthorized;
      return Buffer.from(
        JSON.stringify({ ...v1, type: 'payments.PaymentAuthorized.v2', paymentAuthorizedV2: v2 }),
        'utf8',
      );
    },
    upcast(payload) {
      const amount = isObject(payload) ? payload.amount : undefined;
      const cents = isObject(amount) ? amount.cents : undefined;
      if (
        !isObject(payload) ||
        typeof payload.orderId !== 'string' ||
        typeof payload.paymentId !== 'string' ||
        typeof cents !== 'number' ||
        !Number.isInteger(cents) ||
        cents < 0
      ) {
        throw new InvalidMessageError(
          'SCHEMA_MISMATCH',
          'payments.PaymentAuthorized.v2 needs orderId, paymentId and amount.cents (a non-negative integer)',
        );
      }
      return {
        paymentAuthorized: { orderId: payload.orderId, paymentId: payload.paymentId, amountCents: cents },
      };
    },
  },
};

/** The version names the tolerant reader accepts besides the v1 types. */
export const UPCASTABLE_TYPES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(NEXT_VERSIONS).map(([v1, next]) => [next.type, v1]),
);

const payloadKeyOf = (type: string) => {
  // 'payments.PaymentAuthorized.v2' -> 'paymentAuthorizedV2'
  const [, name = '', version = ''] = type.split('.');
  return `${name.charAt(0).toLowerCase()}${name.slice(1)}${version.toUpperCase()}`;
};

/**
 * The tolerant, versioned reader: a known later version is upcast to its v1 type, then decoded and validated like
 * any message; unknown fields are ignored; an unknown version is an InvalidMessageError naming it.
 */
export function readVersionedEnvelope(value: Buffer | Uint8Array | string | null | undefined): Envelope {
  if (value === null || value === undefined || value.length === 0) return decodeEnvelope(value);
  const text = typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return decodeEnvelope(value);
  }
  if (!isObject(parsed) || typeof parsed.type !== 'string') return decodeEnvelope(value);
  const v1 = UPCASTABLE_TYPES[parsed.type];
  if (v1 === undefined) {
    const m = /^(.+)\.v(\d+)$/.exec(parsed.type);
    if (m && m[2] !== '1')
      throw new InvalidMessageError(
        'UNKNOWN_TYPE',
        `unsupported version v${m[2]} of ${m[1]}: this reader knows v1${Object.keys(UPCASTABLE_TYPES)
          .filter((t) => t.startsWith(`${m[1]}.`))
          .map((t) => `, ${t.slice(t.lastIndexOf('.') + 1)}`)
          .join('')}`,
      );
    return decodeEnvelope(value);
  }
  const key = payloadKeyOf(parsed.type);
  const next = NEXT_VERSIONS[v1];
  if (!next) return decodeEnvelope(value);
  const { [key]: payload, ...rest } = parsed;
  return decodeEnvelope(JSON.stringify({ ...rest, type: v1, ...next.upcast(payload, parsed) }));
}
