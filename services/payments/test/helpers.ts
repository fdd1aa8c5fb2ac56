import { randomUUID } from 'node:crypto';
import type { Envelope } from '@shop/contracts';
import { dltTopic, encodeEnvelope, newEnvelope, paymentsV1, Topics } from '@shop/contracts';
import { grpc, loadConfig, unary } from '@shop/platform';
import type { Identity, TestIssuer } from '@shop/testkit';
import {
  eventually,
  KafkaRecorder,
  serviceEnv,
  testInfra,
  testIssuer,
  type RecordedMessage,
} from '@shop/testkit';
import { Kafka, logLevel } from 'kafkajs';
import type { Producer } from 'kafkajs';
import type { RunningService } from '../src/service';
import { createService, schema } from '../src/service';

export const infra = testInfra();

let issuer: TestIssuer | undefined;

/** The real issuer of this test file (tools/issuer in-process); payments verifies the tokens it signs. */
export async function startIssuer(): Promise<TestIssuer> {
  issuer ??= await testIssuer();
  return issuer;
}

export function bootPayments(extra: Record<string, string> = {}): RunningService {
  if (!issuer) throw new Error('startIssuer() first: payments verifies access tokens of a real issuer');
  return createService(
    loadConfig(
      schema,
      serviceEnv('payments', infra, { LOG_LEVEL: 'silent', OIDC_ISSUER: issuer.url, ...extra }),
    ),
  );
}

/** gRPC metadata carrying an identity's access token, as the gateway forwards it. */
export async function bearer(identity: Identity): Promise<grpc.Metadata> {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${await identity.token()}`);
  return md;
}

/**
 * A Kafka recorder (@shop/testkit) on the reply and dead-letter topics, plus a producer for commands. Tests find
 * their own messages by order id, so leftovers of other tests and services do not matter.
 */
export class KafkaProbe {
  private readonly kafka = new Kafka({
    clientId: 'payments-test',
    brokers: infra.kafkaBrokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  private recorder: KafkaRecorder | undefined;
  private producer: Producer | undefined;

  async start(): Promise<void> {
    this.producer = this.kafka.producer();
    await this.producer.connect();
    this.recorder = await KafkaRecorder.start([Topics.paymentsReplies, dltTopic(Topics.paymentsCommands)], {
      kafka: this.kafka,
      group: 'payments-test',
    });
  }

  /** Every message recorded so far, in arrival order. */
  get seen(): RecordedMessage[] {
    return this.recorder?.messages ?? [];
  }

  async stop(): Promise<void> {
    await this.recorder?.stop();
    await this.producer?.disconnect();
  }

  /** Sends a command envelope keyed by its order id; returns it. */
  async send(payload: NonNullable<Envelope['payload']>, messageId = randomUUID()): Promise<Envelope> {
    const envelope = newEnvelope(payload, { messageId });
    await this.sendEnvelopes([envelope]);
    return envelope;
  }

  async sendEnvelopes(envelopes: Envelope[]): Promise<void> {
    await this.producer?.send({
      topic: Topics.paymentsCommands,
      messages: envelopes.map((e) => ({ key: e.orderId, value: encodeEnvelope(e) })),
    });
  }

  async sendRaw(key: string, value: string, headers: Record<string, string> = {}): Promise<void> {
    await this.producer?.send({ topic: Topics.paymentsCommands, messages: [{ key, value, headers }] });
  }

  replies(orderId: string): Envelope[] {
    return this.seen
      .filter((s) => s.topic === Topics.paymentsReplies && s.envelope?.orderId === orderId)
      .map((s) => s.envelope as Envelope);
  }

  /** Waits until `count` replies for the order have arrived and returns them in arrival order. */
  async repliesFor(orderId: string, count = 1, timeoutMs = 20_000): Promise<Envelope[]> {
    return eventually(() => (this.replies(orderId).length >= count ? this.replies(orderId) : undefined), {
      what: `${count} repl${count === 1 ? 'y' : 'ies'} for order ${orderId}`,
      timeoutMs,
    });
  }

  async dlt(testId: string): Promise<RecordedMessage> {
    return eventually(
      () =>
        this.seen.find(
          (s) => s.topic === dltTopic(Topics.paymentsCommands) && s.headers['x-test-id'] === testId,
        ),
      { what: `dead letter ${testId}` },
    );
  }
}

export const authorize = (orderId: string, customerId: string, amountCents: number, currency = 'EUR') =>
  ({ $case: 'authorizePayment', value: { orderId, customerId, amountCents, currency } }) as const;
export const refund = (orderId: string) => ({ $case: 'refundPayment', value: { orderId } }) as const;

export function grpcClient(port: number): paymentsV1.PaymentServiceClient {
  return new paymentsV1.PaymentServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

export const listPayments = (
  c: paymentsV1.PaymentServiceClient,
  req: Partial<paymentsV1.ListPaymentsRequest>,
  md?: grpc.Metadata,
) => unary(c.listPayments.bind(c), { orderId: '', customerId: '', ...req }, {}, md);
export const getAccount = (c: paymentsV1.PaymentServiceClient, customerId: string, md?: grpc.Metadata) =>
  unary(c.getAccount.bind(c), { customerId }, {}, md);
