import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { metricNamesUsed } from '@shop/observability';
import { Kafka, logLevel } from 'kafkajs';
import { eventually, KafkaRecorder, testInfra } from '@shop/testkit';
import { Rest } from '../src/lib';
import { grpcHealth, reflectionServices } from './grpc-probe';
import { ensureGrpcurl, grpcurl } from './grpcurl';
import type { ReceivedSpan } from './otlp';
import { SpanKind, startOtlpReceiver } from './otlp';
import type { Stack } from './stack';
import { startStack } from './stack';

// One real order through the four services running as separate processes, each exporting its spans over OTLP
// http/protobuf to a receiver inside this test: the trace tree, the metrics and the logs are checked from outside.
describe('the running platform from outside: telemetry of an order, gRPC health, reflection and grpcurl', () => {
  let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let stack: Stack;
  let rest: Rest;
  // Built (or found in the cache) while the services start; awaited by the grpcurl test only.
  let grpcurlBinary: Promise<string>;

  before(async () => {
    grpcurlBinary = ensureGrpcurl();
    grpcurlBinary.catch(() => undefined);
    otlp = await startOtlpReceiver();
    stack = await startStack({
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      DEPLOYMENT_ENVIRONMENT: 'test',
    });
    rest = new Rest(stack.gateway);
  });
  after(async () => {
    const codes = await stack?.stop();
    await otlp?.close();
    assert.deepEqual(codes, [0, 0, 0, 0], 'every service exits 0 on SIGTERM');
  });

  async function place(sku: string, requestId: string) {
    const customer = stack.issuer.client.customer('otel');
    const as = rest.as(customer);
    const res = await as.call<{ id: string }>(
      'POST',
      '/v1/orders',
      { customerId: customer.customerId, items: [{ sku, quantity: 1 }] },
      { 'x-request-id': requestId },
    );
    assert.equal(res.status, 201);
    const order = await as.waitFor(res.body.id, 30_000);
    return { order, customerId: customer.customerId, customer };
  }

  /** Spans of the trace of the request with this id: the services' log lines name both the request and the trace. */
  async function traceOf(
    requestId: string,
    want: (spans: ReceivedSpan[]) => boolean,
  ): Promise<ReceivedSpan[]> {
    const line = await eventually(
      () =>
        Object.values(stack.services)
          .flatMap((svc) => svc.logs)
          .find((l) => l.request_id === requestId && typeof l.trace_id === 'string'),
      { what: `a log line for request ${requestId}` },
    );
    return eventually(
      () => {
        const spans = otlp.spans.filter((s) => s.traceId === line.trace_id);
        return want(spans) ? spans : undefined;
      },
      { what: 'the spans of the order', timeoutMs: 20_000 },
    );
  }

  const byId = (spans: ReceivedSpan[]) => new Map(spans.map((s) => [s.spanId, s]));
  /** Asserts a PRODUCER span for `topic` in `from` and a CONSUMER span in `to` whose parent it is. */
  function assertHop(spans: ReceivedSpan[], topic: string, from: string, to: string) {
    const producer = spans.find(
      (s) =>
        s.kind === SpanKind.PRODUCER &&
        s.service === from &&
        s.attributes['messaging.destination.name'] === topic,
    );
    assert.ok(producer, `${from} has a PRODUCER span for ${topic}`);
    assert.equal(producer.attributes['messaging.system.name'], 'kafka');
    assert.equal(producer.attributes['messaging.operation.type'], 'send');
    const consumer = spans.find(
      (s) => s.kind === SpanKind.CONSUMER && s.service === to && s.parentSpanId === producer.spanId,
    );
    assert.ok(consumer, `${to} has a CONSUMER span for ${topic} whose parent is ${from}'s PRODUCER span`);
    assert.equal(consumer.attributes['messaging.destination.name'], topic);
    assert.equal(consumer.attributes['messaging.operation.type'], 'process');
    assert.equal(consumer.attributes['messaging.consumer.group.name'], to);
    assert.equal(typeof consumer.attributes['kafka.offset'], 'number');
    // The names deprecated by the semantic conventions are not written next to their replacements.
    for (const deprecated of ['messaging.system', 'messaging.kafka.offset', 'messaging.kafka.message.offset'])
      assert.equal(consumer.attributes[deprecated] ?? producer.attributes[deprecated], undefined, deprecated);
  }

  it('an approved order is one trace: gateway -> orders -> Kafka -> inventory -> Kafka -> orders -> payments -> ...', async () => {
    const requestId = `otel-${randomUUID()}`;
    const { order, customerId } = await place('SKU-0001', requestId);
    assert.equal(order.status, 'APPROVED');
    const count = (spans: ReceivedSpan[], kind: number, topic: string) =>
      spans.filter((x) => x.kind === kind && x.attributes['messaging.destination.name'] === topic).length;
    // Reserve and commit go to inventory and come back; authorize goes to payments and comes back. Each service
    // exports on its own schedule, so wait for both ends of every hop.
    const hops: [string, number][] = [
      ['inventory.commands.v1', 2],
      ['inventory.replies.v1', 2],
      ['payments.commands.v1', 1],
      ['payments.replies.v1', 1],
    ];
    const spans = await traceOf(requestId, (s) =>
      hops.every(
        ([topic, n]) => count(s, SpanKind.PRODUCER, topic) >= n && count(s, SpanKind.CONSUMER, topic) >= n,
      ),
    );
    assert.deepEqual(
      new Set(spans.map((s) => s.service)),
      new Set(['gateway', 'orders', 'inventory', 'payments']),
    );
    const ids = byId(spans);
    const roots = spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
    assert.equal(
      roots.length,
      1,
      `one root span, got ${roots.map((r) => `${r.service}:${r.name}`).join(', ')}`,
    );
    assert.equal(roots[0]?.service, 'gateway');
    assert.equal(roots[0]?.kind, SpanKind.SERVER);
    assert.equal(roots[0]?.attributes['http.route'], '/v1/orders');
    // gateway -> orders over gRPC: a CLIENT span in the gateway parents the SERVER span in orders.
    const placeServer = spans.find(
      (s) => s.service === 'orders' && s.kind === SpanKind.SERVER && s.name.includes('PlaceOrder'),
    );
    assert.ok(placeServer, 'orders has a SERVER span for PlaceOrder');
    assert.equal(ids.get(placeServer.parentSpanId)?.kind, SpanKind.CLIENT);
    assert.equal(ids.get(placeServer.parentSpanId)?.service, 'gateway');
    assertHop(spans, 'inventory.commands.v1', 'orders', 'inventory');
    assertHop(spans, 'inventory.replies.v1', 'inventory', 'orders');
    assertHop(spans, 'payments.commands.v1', 'orders', 'payments');
    assertHop(spans, 'payments.replies.v1', 'payments', 'orders');
    // Database spans follow the database conventions, inside each service that owns data.
    for (const svc of ['orders', 'inventory', 'payments']) {
      const db = spans.find(
        (s) =>
          s.service === svc &&
          s.kind === SpanKind.CLIENT &&
          (s.attributes['db.system.name'] ?? s.attributes['db.system']) === 'postgresql',
      );
      assert.ok(db, `${svc} has PostgreSQL client spans in the trace`);
    }
    // Each saga step is a span in orders naming the step and its outcome.
    const steps = spans.filter((s) => s.service === 'orders' && s.name.startsWith('saga '));
    for (const step of ['RESERVE_STOCK', 'AUTHORIZE_PAYMENT', 'COMMIT_STOCK']) {
      assert.ok(
        steps.some((s) => s.attributes['saga.step'] === step && s.attributes['saga.outcome'] === 'success'),
        `a saga span for ${step}: ${JSON.stringify(steps.map((s) => s.attributes))}`,
      );
    }
    for (const s of spans) {
      assert.equal(s.resource['deployment.environment.name'], 'test');
      assert.ok(s.resource['service.instance.id'], 'service.instance.id is set');
      assert.ok(s.resource['service.version'], 'service.version is set');
      // No personal data on spans: the customer id appears in no attribute.
      for (const [k, v] of Object.entries(s.attributes))
        assert.ok(!String(v).includes(customerId), `${s.service} ${s.name} ${k} carries the customer id`);
    }
  });

  it('an out-of-stock order is one trace that never reaches payments', async () => {
    const requestId = `otel-${randomUUID()}`;
    const { order } = await place('SKU-0012', requestId);
    assert.equal(order.status, 'REJECTED');
    assert.equal(order.rejectionReason, 'OUT_OF_STOCK');
    // Each service exports on its own schedule: wait for both hops, not just the last one.
    const spans = await traceOf(requestId, (s) =>
      ['inventory.commands.v1', 'inventory.replies.v1'].every((topic) =>
        [SpanKind.PRODUCER, SpanKind.CONSUMER].every((kind) =>
          s.some((x) => x.kind === kind && x.attributes['messaging.destination.name'] === topic),
        ),
      ),
    );
    assertHop(spans, 'inventory.commands.v1', 'orders', 'inventory');
    assertHop(spans, 'inventory.replies.v1', 'inventory', 'orders');
    assert.ok(!spans.some((s) => s.service === 'payments'), 'payments takes no part');
  });

  it('log lines of an order carry the trace id of its spans', async () => {
    const requestId = `otel-${randomUUID()}`;
    await place('SKU-0001', requestId);
    const spans = await traceOf(requestId, (s) => s.some((x) => x.service === 'payments'));
    const traceId = spans[0]?.traceId;
    const lines = Object.values(stack.services).flatMap((svc) =>
      svc.logs.filter((l) => l.request_id === requestId).map((l) => ({ svc: svc.name, l })),
    );
    assert.ok(lines.length > 0, 'the request id reaches the logs');
    for (const { svc, l } of lines) {
      assert.equal(l.trace_id, traceId, `${svc}: ${JSON.stringify(l)}`);
      assert.match(String(l.span_id), /^[0-9a-f]{16}$/);
      assert.equal(l.service, svc);
    }
  });

  it('every metric used by an alert, a recording rule or a dashboard is exported by the running services', async () => {
    const exported = new Map<string, string>();
    for (const svc of Object.values(stack.services)) {
      const text = await (await fetch(`http://127.0.0.1:${svc.httpPort}/metrics`)).text();
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) exported.set(m[1] ?? '', m[2] ?? '');
    }
    const present = (name: string) => {
      if (exported.has(name)) return true;
      const counter = /^(.*)_total$/.exec(name);
      if (counter?.[1] && exported.get(counter[1]) === 'counter') return true;
      const hist = /^(.*)_(bucket|sum|count)$/.exec(name);
      return Boolean(hist?.[1] && ['histogram', 'summary'].includes(exported.get(hist[1]) ?? ''));
    };
    const used = metricNamesUsed();
    assert.ok(used.length > 20, 'the rules and dashboards use metrics');
    const missing = used.filter((u) => !present(u.name)).map((u) => `${u.name} (${u.source})`);
    assert.deepEqual([...new Set(missing)], [], 'metrics used but not exported');
  });

  it('counters have a series for every label value known in advance, and only orders exports the saga metrics', async () => {
    const scrape = async (svc: keyof typeof stack.services) =>
      (await fetch(`http://127.0.0.1:${stack.services[svc].httpPort}/metrics`)).text();
    const orders = await scrape('orders');
    // None of these has happened in this run: the series exist because they are created at 0 at start-up.
    for (const reason of ['TIMEOUT', 'PAYMENT_DECLINED'])
      assert.match(
        orders,
        new RegExp(`^saga_completed_total\\{outcome="rejected",reason="${reason}"[^}]*\\} \\d+`, 'm'),
      );
    for (const step of ['RELEASE_STOCK', 'REFUND_PAYMENT'])
      assert.match(orders, new RegExp(`^saga_compensations_total\\{step="${step}"[^}]*\\} \\d+`, 'm'));
    const consumes = {
      orders: ['inventory.replies.v1', 'payments.replies.v1'],
      inventory: ['inventory.commands.v1'],
      payments: ['payments.commands.v1'],
    } as const;
    const publishes = {
      orders: ['inventory.commands.v1', 'payments.commands.v1', 'orders.events.v1'],
      inventory: ['inventory.replies.v1'],
      payments: ['payments.replies.v1'],
    } as const;
    for (const svc of ['orders', 'inventory', 'payments'] as const) {
      const text = await scrape(svc);
      for (const topic of consumes[svc])
        assert.match(
          text,
          new RegExp(
            `^messages_consumed_total\\{topic="${topic.replaceAll('.', '\\.')}",outcome="dead_lettered"[^}]*\\} \\d+`,
            'm',
          ),
          `${svc} ${topic}`,
        );
      for (const topic of publishes[svc])
        assert.match(
          text,
          new RegExp(
            `^outbox_publish_failures_total\\{topic="${topic.replaceAll('.', '\\.')}"[^}]*\\} \\d+`,
            'm',
          ),
          `${svc} ${topic}`,
        );
    }
    for (const svc of ['gateway', 'inventory', 'payments'] as const)
      assert.doesNotMatch(await scrape(svc), /^# TYPE saga_/m, `${svc} exports no saga metric`);
  });

  it('metrics count a known sequence of orders by outcome', async () => {
    const scrape = async () =>
      (await fetch(`http://127.0.0.1:${stack.services.orders.httpPort}/metrics`)).text();
    const value = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const approved = /^saga_completed_total\{[^}]*outcome="approved"[^}]*\} (\d+)/m;
    const oos = /^saga_completed_total\{[^}]*outcome="rejected",reason="OUT_OF_STOCK"[^}]*\} (\d+)/m;
    const started = /^saga_started_total\{[^}]*\} (\d+)/m;
    const before = await scrape();
    await place('SKU-0001', `m-${randomUUID()}`);
    await place('SKU-0001', `m-${randomUUID()}`);
    await place('SKU-0012', `m-${randomUUID()}`);
    await eventually(async () => value(await scrape(), approved) - value(before, approved) === 2, {
      what: 'two approvals counted',
    });
    const after = await scrape();
    assert.equal(value(after, started) - value(before, started), 3);
    assert.equal(value(after, oos) - value(before, oos), 1);
    const gw = await (await fetch(`http://127.0.0.1:${stack.services.gateway.httpPort}/metrics`)).text();
    assert.match(
      gw,
      /^http_requests_total\{method="POST",route="\/v1\/orders",status_code="201",service="gateway"\} \d+/m,
    );
  });

  it('a redelivered command is counted as a duplicate and changes nothing', async () => {
    const kafka = new Kafka({
      clientId: 'otel-test',
      brokers: testInfra().kafkaBrokers.split(','),
      logLevel: logLevel.NOTHING,
    });
    // From the beginning (as every recorder reads), filtered by the order's key below: a new group starting at
    // "latest" resolves that offset after it joined, and a command produced in between would be skipped.
    const seen = await KafkaRecorder.start(['inventory.commands.v1'], { kafka, group: 'otel-test' });
    const producer = kafka.producer();
    await producer.connect();
    try {
      const scrape = async () =>
        (await fetch(`http://127.0.0.1:${stack.services.inventory.httpPort}/metrics`)).text();
      const duplicates = (text: string) =>
        Number(
          /^messages_consumed_total\{topic="inventory\.commands\.v1",outcome="duplicate"[^}]*\} (\d+)/m.exec(
            text,
          )?.[1] ?? 0,
        );
      const { order } = await place('SKU-0001', `dup-${randomUUID()}`);
      const reserve = await eventually(
        () => seen.of(order.id).find((m) => m.value.toString().includes('ReserveStock')),
        {
          what: 'the ReserveStock command of the order',
        },
      );
      const before = duplicates(await scrape());
      const stockBefore = await rest.call<{ available: number }>('GET', '/v1/products/SKU-0001');
      await producer.send({
        topic: 'inventory.commands.v1',
        messages: [{ key: reserve.key, value: reserve.value, headers: reserve.headers }],
      });
      await eventually(async () => duplicates(await scrape()) === before + 1, {
        what: 'the duplicate counted',
      });
      const stockAfter = await rest.call<{ available: number }>('GET', '/v1/products/SKU-0001');
      assert.equal(stockAfter.body.available, stockBefore.body.available, 'a duplicate reserves nothing');
    } finally {
      await seen.stop();
      await producer.disconnect();
    }
  });

  it('every gRPC service answers grpc.health.v1 SERVING and lists its services by reflection', async () => {
    const expected: Record<string, string[]> = {
      orders: ['orders.v1.OrderService'],
      inventory: ['inventory.v1.InventoryService'],
      payments: ['payments.v1.PaymentService'],
    };
    for (const [name, services] of Object.entries(expected)) {
      const address = `127.0.0.1:${stack.services[name as 'orders'].grpcPort}`;
      assert.equal(await grpcHealth(address, ''), 'SERVING', `${name} overall health`);
      for (const service of services)
        assert.equal(await grpcHealth(address, service), 'SERVING', `${name} ${service}`);
      const listed = await reflectionServices(address);
      for (const service of [...services, 'grpc.health.v1.Health'])
        assert.ok(listed.includes(service), `${name} lists ${service}: ${listed.join(', ')}`);
    }
  });

  // What the README promises: grpcurl, a real client, can list, describe and call every service. Each server lists
  // only what it implements, serves complete file descriptors (imports included) and a valid health descriptor.
  it('grpcurl lists, describes and calls every gRPC service', { timeout: 12 * 60_000 }, async () => {
    const bin = await grpcurlBinary;
    const { order, customerId, customer } = await place('SKU-0001', randomUUID());
    // orders and payments answer a customer's own records to that customer's token (gRPC metadata).
    const asCustomer = [`authorization: Bearer ${await customer.token()}`];
    const expected = {
      orders: {
        service: 'orders.v1.OrderService',
        call: 'orders.v1.OrderService/GetOrder',
        data: { orderId: order.id },
        check: (out: Record<string, unknown>) => {
          const got = out.order as { id?: string; customerId?: string };
          assert.equal(got.id, order.id);
          assert.equal(got.customerId, customerId);
        },
      },
      inventory: {
        service: 'inventory.v1.InventoryService',
        call: 'inventory.v1.InventoryService/GetProduct',
        data: { sku: 'SKU-0001' },
        check: (out: Record<string, unknown>) =>
          assert.equal((out.product as { sku?: string }).sku, 'SKU-0001'),
      },
      payments: {
        service: 'payments.v1.PaymentService',
        call: 'payments.v1.PaymentService/GetAccount',
        data: { customerId },
        check: (out: Record<string, unknown>) =>
          assert.equal((out.account as { customerId?: string }).customerId, customerId),
      },
    };
    for (const [name, want] of Object.entries(expected)) {
      const address = `127.0.0.1:${stack.services[name as 'orders'].grpcPort}`;
      const ok = async (args: string[], data?: unknown, headers: string[] = []) => {
        const r = await grpcurl(bin, address, args, data, headers);
        assert.equal(r.status, 0, `grpcurl ${args.join(' ')} on ${name}: ${r.stderr}${r.stdout}`);
        return r.stdout;
      };
      const listed = (await ok(['list'])).trim().split('\n').sort();
      assert.deepEqual(
        listed,
        [
          want.service,
          'grpc.health.v1.Health',
          'grpc.reflection.v1.ServerReflection',
          'grpc.reflection.v1alpha.ServerReflection',
        ].sort(),
        `${name} lists its own service, health and reflection only`,
      );
      for (const service of [want.service, 'grpc.health.v1.Health'])
        assert.match(
          await ok(['describe', service]),
          new RegExp(`${service.replace(/\./g, '\\.')} is a service`),
        );
      assert.deepEqual(JSON.parse(await ok(['grpc.health.v1.Health/Check'])), { status: 'SERVING' });
      const headers = name === 'inventory' ? [] : asCustomer;
      want.check(JSON.parse(await ok([want.call], want.data, headers)) as Record<string, unknown>);
    }
    // Another service's methods are not offered (grpcurl used to list them here and get Unimplemented).
    const foreign = await grpcurl(bin, `127.0.0.1:${stack.services.orders.grpcPort}`, [
      'describe',
      'inventory.v1.InventoryService',
    ]);
    assert.notEqual(foreign.status, 0, 'orders does not describe inventory.v1.InventoryService');
  });
});
