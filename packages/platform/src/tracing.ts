import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context, Span } from '@opentelemetry/api';

/**
 * Messaging spans, written by hand rather than by the kafkajs auto-instrumentation: the outbox relay publishes in
 * its own loop, long after the transaction that wrote the message, so the producer span must be parented on the
 * context stored with the outbox row (not on the relay's). Attribute names follow the OpenTelemetry messaging
 * semantic conventions as of semconv 1.45 (messaging.system.name, messaging.operation.type,
 * messaging.destination.name, kafka.offset, ...; not the deprecated messaging.system or messaging.kafka.offset).
 */
export const tracer = trace.getTracer('@shop/platform');

export function contextFromHeaders(headers: Record<string, string>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** Starts a PRODUCER span under the context the message was written in, and returns headers carrying it. */
export function startPublishSpan(
  topic: string,
  headers: Record<string, string>,
): { span: Span; headers: Record<string, string> } {
  const parent = contextFromHeaders(headers);
  const span = tracer.startSpan(
    `send ${topic}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system.name': 'kafka',
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'messaging.destination.name': topic,
      },
    },
    parent,
  );
  const out = { ...headers };
  propagation.inject(trace.setSpan(parent, span), out);
  return { span, headers: out };
}

export interface ConsumeSpanInfo {
  topic: string;
  partition: number;
  offset: string;
  groupId: string;
  headers: Record<string, string>;
}

/** Runs `fn` inside a CONSUMER span whose parent is the producer span found in the message headers. */
export async function withConsumeSpan<T>(info: ConsumeSpanInfo, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = contextFromHeaders(info.headers);
  const span = tracer.startSpan(
    `process ${info.topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system.name': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': info.topic,
        'messaging.destination.partition.id': String(info.partition),
        'kafka.offset': Number(info.offset),
        'messaging.consumer.group.name': info.groupId,
      },
    },
    parent,
  );
  return context.with(trace.setSpan(parent, span), () => endSpanAfter(span, fn));
}

/** Runs `fn` in an INTERNAL span (saga steps and other units of work worth seeing in a trace). */
export async function inSpan<T>(
  name: string,
  attributes: Record<string, string | number | boolean>,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, (span) => endSpanAfter(span, fn));
}

/** Runs `fn`, records its error on the span if it throws, and ends the span either way. */
async function endSpanAfter<T>(span: Span, fn: (span: Span) => Promise<T>): Promise<T> {
  try {
    return await fn(span);
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}
