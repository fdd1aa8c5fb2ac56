import { authConfig, backendConfig, clientConfig, env, z } from '@shop/platform';

export const schema = z.object({
  ...backendConfig(50051, 9101),
  INVENTORY_ADDR: env.grpcTarget(
    '127.0.0.1:50052',
    'inventory gRPC address (QuoteItems prices every new order): host:port, or file:/path of a discovery file with one host:port a line',
  ),
  DISCOVERY_REFRESH_MS: env.positiveInt(
    2000,
    'with a file: address, how long the endpoints read from the discovery file are trusted before it is read again (its TTL)',
  ),
  ...clientConfig(),
  SAGA_STEP_TIMEOUT_MS: env.positiveInt(
    30_000,
    'deadline of every saga step, from when its command reached Kafka; an expired forward step rejects the order with TIMEOUT (keep it well above the 6 s Kafka consumer session timeout)',
  ),
  SAGA_SWEEP_INTERVAL_MS: env.positiveInt(
    500,
    'how often the sweeper looks for sagas past their step deadline',
  ),
  SAGA_SWEEPER: env.choice(
    ['on', 'off'],
    'on',
    'on: look for sagas past their step deadline and time them out; off: leave that to the other replicas (a canary: the stable pods alone change sagas it did not start)',
  ),
  COMPENSATION_MAX_ATTEMPTS: env.positiveInt(
    5,
    'sends of a compensation command before the saga is parked for an operator',
  ),
  MESSAGE_READER: z
    .preprocess(
      (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
      z.enum(['versioned', 'v1-only'], { error: 'expected versioned or v1-only' }).default('versioned'),
    )
    .describe(
      'how saga replies are read: versioned (known later versions such as payments.PaymentAuthorized.v2 are upcast, unknown fields ignored) or v1-only (the strict reader before issue 8, kept for rollback and the scenario-4 lab)',
    ),
  WATCH_MAX_STREAMS: env.positiveInt(
    1000,
    'concurrent WatchOrder streams per replica (more get RESOURCE_EXHAUSTED)',
  ),
  ...authConfig(),
});

export type Config = z.infer<typeof schema>;
