// values.schema.json refuses wrong values before anything is rendered, with a message naming the value.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderRaw } from './support';

const bad: { name: string; values: unknown; set?: string[]; names: RegExp }[] = [
  {
    name: 'negative replicas',
    values: { services: { orders: { replicas: -1 } } },
    names: /\/services\/orders\/replicas/,
  },
  {
    name: 'canary weight 120',
    values: { services: { payments: { canary: { enabled: true, weight: 120 } } } },
    names: /\/services\/payments\/canary\/weight/,
  },
  {
    name: 'weight on a disabled canary',
    values: { services: { orders: { canary: { weight: 10 } } } },
    names: /\/services\/orders\/canary\/weight/,
  },
  {
    name: 'unknown service name',
    values: { services: { shipping: { version: '1.0.0' } } },
    names: /shipping/,
  },
  { name: 'missing image tag', values: {}, set: ['image.tag=null'], names: /tag/ },
  { name: 'empty image tag', values: { image: { tag: '' } }, names: /\/image\/tag/ },
  { name: 'image tag latest', values: { image: { tag: 'latest' } }, names: /\/image\/tag/ },
  {
    name: 'canary tag latest',
    values: { services: { orders: { canary: { enabled: true, tag: 'latest' } } } },
    names: /\/services\/orders\/canary\/tag/,
  },
  {
    name: 'kafka image latest',
    values: { kafka: { image: 'apache/kafka:latest' } },
    names: /\/kafka\/image/,
  },
  {
    name: 'call graph edge to an unknown workload',
    values: { callGraph: [{ from: 'gateway', to: 'shipping', port: 'grpc' }] },
    names: /\/callGraph\/0\/to/,
  },
  {
    name: 'external Kafka without brokers',
    values: { kafka: { enabled: false } },
    names: /\/externalKafka\/brokers/,
  },
  { name: 'unknown top-level key', values: { replicaCount: 3 }, names: /replicaCount/ },
  {
    name: 'HPA CPU target over 100%',
    values: { services: { gateway: { autoscaling: { targetCPUUtilizationPercentage: 150 } } } },
    names: /targetCPUUtilizationPercentage/,
  },
];

void describe('values.schema.json rejects bad values', () => {
  void it('the default values and a valid canary pass', () => {
    assert.equal(renderRaw({}).status, 0);
    const r = renderRaw({ services: { orders: { canary: { enabled: true, weight: 25, tag: '0.2.0' } } } });
    assert.equal(r.status, 0, r.stderr);
  });

  for (const c of bad) {
    void it(`refuses ${c.name}`, () => {
      const r = renderRaw(
        c.values,
        (c.set ?? []).flatMap((s) => ['--set', s]),
      );
      assert.notEqual(r.status, 0, `${c.name} was accepted`);
      assert.match(r.stderr, /values don't meet the specifications of the schema/, r.stderr);
      assert.match(r.stderr, c.names, r.stderr);
    });
  }
});
