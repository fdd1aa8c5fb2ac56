/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   rendered manifests are untyped YAML, walked field by field; a missing field fails an assertion. */
// The labs' faults in the chart: per service and per track (a canary can be faulty on its own), the admin API only
// on the pod's loopback. The rendered FAULTS are checked with the services' own validator (@shop/platform), the one
// that stops a service at start on a bad value.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FaultValidationError, parseFaultsEnv } from '@shop/platform';
import { objectsOf, render } from './support';

type Any = any;

const CANARY_FAULTS = { 'grpc-server-error': { method: 'PlaceOrder', code: 'UNAVAILABLE', percent: 50 } };
const STABLE_FAULTS = { 'grpc-server-latency': { method: 'QuoteItems', fixedMs: 200, jitterMs: 50 } };

const envOf = (objects: Any[], deployment: string): Record<string, string> => {
  const d = objectsOf<Any>(objects, 'Deployment').find((o) => o.metadata.name === deployment);
  assert.ok(d, `Deployment ${deployment}`);
  const c = d.spec.template.spec.containers[0];
  return Object.fromEntries((c.env ?? []).map((e: Any) => [e.name, e.value]));
};
const configOf = (objects: Any[], service: string): Record<string, string> =>
  objectsOf<Any>(objects, 'ConfigMap').find((o) => o.metadata.name === `${service}-config`)?.data ?? {};

void describe('faults in the chart', () => {
  void it('no fault and no admin API by default', () => {
    const objects = render({}) as Any[];
    for (const d of objectsOf<Any>(objects, 'Deployment')) {
      const names = (d.spec.template.spec.containers[0].env ?? []).map((e: Any) => e.name);
      assert.ok(!names.includes('FAULTS'), d.metadata.name);
    }
    for (const s of ['gateway', 'orders', 'inventory', 'payments'])
      assert.equal(configOf(objects, s).ADMIN_PORT, undefined, s);
  });

  void it('a canary is faulty on its own; the stable track has its own faults; both pass the services validator', () => {
    const objects = render({
      faults: { adminApi: true, adminPort: 9180 },
      services: {
        orders: { canary: { enabled: true, weight: 10, tag: '0.2.0', faults: CANARY_FAULTS } },
        inventory: { faults: STABLE_FAULTS },
      },
    }) as Any[];
    const canary = envOf(objects, 'orders-canary');
    assert.deepEqual(JSON.parse(canary.FAULTS ?? 'null'), CANARY_FAULTS);
    assert.equal(envOf(objects, 'orders-stable').FAULTS, undefined, 'the stable orders are not faulty');
    assert.deepEqual(JSON.parse(envOf(objects, 'inventory-stable').FAULTS ?? 'null'), STABLE_FAULTS);
    // What the chart renders is what a service accepts at start.
    assert.deepEqual(
      parseFaultsEnv(canary.FAULTS ?? '').map((f) => f.name),
      ['grpc-server-error'],
    );
    assert.equal(parseFaultsEnv(envOf(objects, 'inventory-stable').FAULTS ?? '').length, 1);
    for (const s of ['gateway', 'orders', 'inventory', 'payments'])
      assert.equal(configOf(objects, s).ADMIN_PORT, '9180', s);
  });

  void it('the admin port is never exposed: not a container port, not a Service port, not in a NetworkPolicy', () => {
    const objects = render({ faults: { adminApi: true, adminPort: 9180 } }) as Any[];
    for (const d of objectsOf<Any>(objects, 'Deployment'))
      for (const c of d.spec.template.spec.containers)
        assert.ok(!(c.ports ?? []).some((p: Any) => p.containerPort === 9180), d.metadata.name);
    for (const s of objectsOf<Any>(objects, 'Service'))
      assert.ok(!s.spec.ports.some((p: Any) => p.port === 9180 || p.targetPort === 9180), s.metadata.name);
    assert.ok(!JSON.stringify(objectsOf(objects, 'NetworkPolicy')).includes('9180'));
  });

  void it('a bad fault renders but is refused by the service at start, naming the fault and the field', () => {
    const objects = render({
      services: { payments: { faults: { 'grpc-server-error': { code: 'NOPE' }, 'no-such-fault': {} } } },
    }) as Any[];
    const raw = envOf(objects, 'payments-stable').FAULTS ?? '';
    assert.throws(
      () => parseFaultsEnv(raw),
      (err: unknown) => {
        assert.ok(err instanceof FaultValidationError);
        const fields = err.issues.map((i) => i.field);
        assert.ok(fields.includes('grpc-server-error.code'), JSON.stringify(err.issues));
        assert.ok(fields.includes('no-such-fault'), JSON.stringify(err.issues));
        return true;
      },
    );
  });

  void it('the schema refuses an admin port that collides with the service ports', () => {
    assert.throws(() => render({ faults: { adminApi: true, adminPort: 8080 } }), /adminPort|8080|not/i);
  });
});
