// Kafka envelope codec. On the wire every message is one messaging.v1.Envelope as proto3 JSON (readable with
// kafka-console-consumer); decoding validates the invariants that the schema alone cannot express.
import { randomUUID } from 'node:crypto';
import { Envelope } from './gen/messaging/v1/envelope';
import { MessageTypes, isMessageType, topicOf, type MessageType, type TopicName } from './topics';

export type Payload = NonNullable<Envelope['payload']>;
export type PayloadCase = Payload['$case'];
/** The payload union member for one case, e.g. `PayloadOf<'reserveStock'>`. */
export type PayloadOf<C extends PayloadCase> = Extract<Payload, { $case: C }>;

export const PAYLOAD_CASE_BY_TYPE = {
  [MessageTypes.ReserveStock]: 'reserveStock',
  [MessageTypes.ReleaseStock]: 'releaseStock',
  [MessageTypes.CommitStock]: 'commitStock',
  [MessageTypes.StockReserved]: 'stockReserved',
  [MessageTypes.StockRejected]: 'stockRejected',
  [MessageTypes.StockReleased]: 'stockReleased',
  [MessageTypes.StockCommitted]: 'stockCommitted',
  [MessageTypes.AuthorizePayment]: 'authorizePayment',
  [MessageTypes.RefundPayment]: 'refundPayment',
  [MessageTypes.PaymentAuthorized]: 'paymentAuthorized',
  [MessageTypes.PaymentDeclined]: 'paymentDeclined',
  [MessageTypes.PaymentRefunded]: 'paymentRefunded',
  [MessageTypes.OrderPlaced]: 'orderPlaced',
  [MessageTypes.OrderApproved]: 'orderApproved',
  [MessageTypes.OrderRejected]: 'orderRejected',
  [MessageTypes.OrderCancelled]: 'orderCancelled',
} as const satisfies Record<MessageType, PayloadCase>;

const TYPE_BY_PAYLOAD_CASE = Object.fromEntries(
  Object.entries(PAYLOAD_CASE_BY_TYPE).map(([type, payloadCase]) => [payloadCase, type]),
) as Record<PayloadCase, MessageType>;

/** The message type name of a payload, e.g. `inventory.ReserveStock.v1` for `{ $case: 'reserveStock', ... }`. */
export function messageTypeOf(payload: Payload): MessageType {
  return TYPE_BY_PAYLOAD_CASE[payload.$case];
}

export type InvalidMessageCode =
  | 'EMPTY'
  | 'NOT_JSON'
  | 'NOT_AN_OBJECT'
  | 'SCHEMA_MISMATCH'
  | 'MISSING_FIELD'
  | 'UNKNOWN_TYPE'
  | 'MISSING_PAYLOAD'
  | 'TYPE_PAYLOAD_MISMATCH'
  | 'ORDER_ID_MISMATCH'
  | 'INVALID_TIMESTAMP';

/**
 * A message that can never be processed (a poison message): consumers dead-letter it with `message` as the reason
 * instead of retrying. `code` is stable and suitable for metrics.
 */
export class InvalidMessageError extends Error {
  override readonly name = 'InvalidMessageError';
  constructor(
    readonly code: InvalidMessageCode,
    message: string,
  ) {
    super(message);
  }
}

/** Checks the invariants of a decoded or about-to-be-encoded envelope; throws InvalidMessageError. */
export function validateEnvelope(envelope: Envelope): void {
  const missing = (
    [
      ['message_id', envelope.messageId],
      ['type', envelope.type],
      ['order_id', envelope.orderId],
    ] as const
  )
    .filter(([, value]) => value.trim() === '')
    .map(([field]) => field);
  if (missing.length > 0) {
    throw new InvalidMessageError('MISSING_FIELD', `envelope is missing ${missing.join(', ')}`);
  }
  if (!isMessageType(envelope.type)) {
    throw new InvalidMessageError('UNKNOWN_TYPE', `unknown message type "${envelope.type}"`);
  }
  const expectedCase = PAYLOAD_CASE_BY_TYPE[envelope.type];
  const payload = envelope.payload;
  if (payload === undefined) {
    throw new InvalidMessageError(
      'MISSING_PAYLOAD',
      `message ${envelope.messageId} of type ${envelope.type} has no payload (expected ${expectedCase})`,
    );
  }
  if (payload.$case !== expectedCase) {
    throw new InvalidMessageError(
      'TYPE_PAYLOAD_MISMATCH',
      `message ${envelope.messageId}: type ${envelope.type} requires payload ${expectedCase}, got ${payload.$case}`,
    );
  }
  if (payload.value.orderId !== envelope.orderId) {
    throw new InvalidMessageError(
      'ORDER_ID_MISMATCH',
      `message ${envelope.messageId}: payload order_id "${payload.value.orderId}" differs from envelope order_id "${envelope.orderId}"`,
    );
  }
  if (envelope.occurredAt !== undefined && Number.isNaN(envelope.occurredAt.getTime())) {
    throw new InvalidMessageError(
      'INVALID_TIMESTAMP',
      `message ${envelope.messageId}: occurred_at is not a valid time`,
    );
  }
}

/** Serializes an envelope as proto3 JSON (UTF-8), after validating it. */
export function encodeEnvelope(envelope: Envelope): Buffer {
  validateEnvelope(envelope);
  return Buffer.from(JSON.stringify(Envelope.toJSON(envelope)), 'utf8');
}

/** Parses and validates a Kafka message value. Throws InvalidMessageError for anything that cannot be processed. */
export function decodeEnvelope(value: Buffer | Uint8Array | string | null | undefined): Envelope {
  if (value === null || value === undefined || value.length === 0) {
    throw new InvalidMessageError('EMPTY', 'message value is empty');
  }
  const text = typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidMessageError('NOT_JSON', `message value is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidMessageError(
      'NOT_AN_OBJECT',
      `message value is JSON but not an object (${Array.isArray(parsed) ? 'array' : parsed === null ? 'null' : typeof parsed})`,
    );
  }
  let envelope: Envelope;
  try {
    envelope = Envelope.fromJSON(parsed);
  } catch (error) {
    throw new InvalidMessageError(
      'SCHEMA_MISMATCH',
      `message value does not match messaging.v1.Envelope: ${(error as Error).message}`,
    );
  }
  validateEnvelope(envelope);
  return envelope;
}

export interface NewEnvelopeOptions {
  /** Defaults to a random UUID. */
  messageId?: string;
  /** message_id of the message being handled when this one is produced. */
  causationId?: string;
  /** Defaults to now. */
  occurredAt?: Date;
}

/** Builds a valid envelope around a payload: type and order_id are taken from the payload. */
export function newEnvelope(payload: Payload, options: NewEnvelopeOptions = {}): Envelope {
  const envelope: Envelope = {
    messageId: options.messageId ?? randomUUID(),
    type: messageTypeOf(payload),
    orderId: payload.value.orderId,
    occurredAt: options.occurredAt ?? new Date(),
    // The trace context travels in the Kafka headers (the outbox writes them); the envelope field stays empty.
    traceHeaders: {},
    causationId: options.causationId ?? '',
    payload,
  };
  validateEnvelope(envelope);
  return envelope;
}

/**
 * The one naming path of an outgoing message: its payload names its type (PAYLOAD_CASE_BY_TYPE), its type names its
 * topic (TOPICS), and the order id is the key, so one order's messages stay in order on one partition.
 */
export function outgoingMessage(
  payload: Payload,
  options: Pick<NewEnvelopeOptions, 'causationId'> = {},
): { topic: TopicName; key: string; value: Buffer } {
  const envelope = newEnvelope(payload, options.causationId ? { causationId: options.causationId } : {});
  return { topic: topicOf(messageTypeOf(payload)), key: envelope.orderId, value: encodeEnvelope(envelope) };
}
