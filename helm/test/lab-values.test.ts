/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   rendered manifests are untyped YAML, walked field by field; a missing field fails an assertion. */
// The chart values the cluster labs (k8s/labs) switch: a route's Istio fault, outlier detection off, a PostgreSQL
// PodDisruptionBudget. Off by default: the default rendering has none of them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectsOf, render, renderRaw } from './support';

type Any = any;
const named = (objects: Any[], kind: string, name: string): Any => {
  const o = objectsOf<Any>(objects, kind).find((x) => x.metadata.name === name);
  assert.ok(o, `${kind} ${name}`);
  return o;
};

void describe('chart values of the cluster labs', () => {
  void it('by default: no route fault, outlier detection on every service, no PostgreSQL budget', () => {
    const objects = render({}) as Any[];
    for (const vs of objectsOf<Any>(objects, 'VirtualService'))
      for (const r of vs.spec.http ?? []) assert.equal(r.fault, undefined, `${vs.metadata.name} ${r.name}`);
    for (const s of ['gateway', 'orders', 'inventory', 'payments'])
      assert.deepEqual(named(objects, 'DestinationRule', s).spec.trafficPolicy.outlierDetection, {
        consecutive5xxErrors: 5,
        interval: '10s',
        baseEjectionTime: '30s',
        maxEjectionPercent: 50,
      });
    assert.ok(!objectsOf<Any>(objects, 'PodDisruptionBudget').some((p) => p.metadata.name === 'postgresql'));
  });

  void it('a route fault is the Istio fault of every route of that service, percent as percentage.value', () => {
    const objects = render({
      services: {
        inventory: {
          route: {
            fault: {
              delay: { fixedDelay: '1s', percent: 100 },
              abort: { grpcStatus: 'UNAVAILABLE', percent: 50 },
            },
          },
        },
      },
    }) as Any[];
    const routes = named(objects, 'VirtualService', 'inventory').spec.http;
    assert.ok(routes.length >= 1);
    for (const r of routes)
      assert.deepEqual(r.fault, {
        delay: { fixedDelay: '1s', percentage: { value: 100 } },
        abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 50 } },
      });
    for (const r of named(objects, 'VirtualService', 'orders').spec.http) assert.equal(r.fault, undefined);
  });

  void it('a header-scoped fault is a route of its own, first, matching the header; the others stay clean', () => {
    const objects = render({
      services: {
        gateway: {
          route: { fault: { abort: { httpStatus: 503 }, header: { name: 'x-lab-fault', value: 'on' } } },
        },
      },
    }) as Any[];
    const edge = named(objects, 'VirtualService', 'shop-edge').spec.http;
    assert.equal(edge[0].name, 'fault-by-header');
    assert.deepEqual(edge[0].fault, { abort: { httpStatus: 503, percentage: { value: 100 } } });
    // Still only the public API: every header match keeps its URI.
    for (const m of edge[0].match) {
      assert.ok(m.uri, JSON.stringify(m));
      assert.deepEqual(m.headers, { 'x-lab-fault': { exact: 'on' } });
    }
    for (const r of edge.slice(1)) assert.equal(r.fault, undefined, r.name);
  });

  void it('a fault changes the VirtualService only: no pod restarts for it', () => {
    const sum = (values: unknown) =>
      named(render(values) as Any[], 'Deployment', 'inventory-stable').spec.template.metadata.annotations[
        'checksum/config'
      ];
    assert.equal(
      sum({ services: { inventory: { route: { fault: { delay: { fixedDelay: '2s' } } } } } }),
      sum({}),
    );
  });

  void it('mesh.outlierDetection.enabled=false renders no outlierDetection', () => {
    const objects = render({ mesh: { outlierDetection: { enabled: false } } }) as Any[];
    for (const s of ['gateway', 'orders', 'inventory', 'payments'])
      assert.equal(named(objects, 'DestinationRule', s).spec.trafficPolicy.outlierDetection, undefined, s);
  });

  void it('postgresql.pdb.enabled renders a budget that selects the StatefulSet pod', () => {
    const objects = render({ postgresql: { pdb: { enabled: true } } }) as Any[];
    const pdb = named(objects, 'PodDisruptionBudget', 'postgresql');
    assert.equal(pdb.spec.minAvailable, 1);
    const labels = named(objects, 'StatefulSet', 'postgresql').spec.template.metadata.labels;
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(labels[k], v, k);
  });

  void it('the schema refuses an abort without a status and a fault field it does not know, naming them', () => {
    const r = renderRaw({ services: { inventory: { route: { fault: { abort: { percent: 10 } } } } } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /\/services\/inventory\/route\/fault\/abort/);
    const r2 = renderRaw({
      services: { orders: { route: { fault: { delay: { fixedDelay: '1s', seconds: 1 } } } } },
    });
    assert.notEqual(r2.status, 0);
    assert.match(r2.stderr, /\/services\/orders\/route\/fault\/delay/);
  });
});
