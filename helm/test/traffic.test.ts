/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   rendered manifests are untyped YAML, walked field by field; a missing field fails an assertion. */
// Retries that do not amplify, a canary that is isolated, and the Istio values of the cluster labs (retry budget,
// Sidecar scope, propagated headers), all read from the rendered chart. The worst case of a call path is computed
// from the rendered VirtualServices alone: every hop's tries, (1 + the largest `attempts` of its routes), multiplied
// along the path from the ingress (or the `helm test` Pod) through the call graph.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chartDir, helm, namespace, objectsOf, release, render, renderRaw, valuesFile } from './support';
import { parseYamlStream, type K8sObject } from './support';

type Any = any;
const SERVICES = ['gateway', 'orders', 'inventory', 'payments'];
const OVERLAY = join(chartDir, 'overlays', 'retry-storm.yaml');
const host = (s: string) => `${s}.${namespace}.svc.cluster.local`;

/** Retry conditions that fire only when the request never reached the upstream's application. */
const BEFORE_DELIVERY = new Set(['connect-failure', 'refused-stream']);
/** Conditions safe for idempotent calls only (the upstream may have done the work). */
const IDEMPOTENT_ONLY = new Set(['unavailable']);

function renderWith(values: unknown, files: string[] = []): K8sObject[] {
  const r = helm([
    'template',
    release,
    chartDir,
    '--namespace',
    namespace,
    ...files.flatMap((f) => ['-f', f]),
    '-f',
    valuesFile(values),
  ]);
  if (r.status !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseYamlStream(r.stdout);
}

const ms = (d: string): number => {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(d);
  assert.ok(m, `duration ${d}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
};

interface Hop {
  from: string;
  to: string;
  vs: Any;
  tries: number;
  retryOn: string[];
}

/** Every call path from the outside callers through the rendered call graph, each hop with its VirtualService. */
function callPaths(objects: K8sObject[]): Hop[][] {
  const vss = objectsOf<Any>(objects, 'VirtualService');
  const cm = objectsOf<Any>(objects, 'ConfigMap');
  // The call graph as the services are configured: gateway's and orders' *_ADDR variables.
  const calls: Record<string, string[]> = {};
  for (const s of SERVICES) {
    const data = cm.find((c) => c.metadata.name === `${s}-config`)?.data ?? {};
    calls[s] = SERVICES.filter((t) => data[`${t.toUpperCase()}_ADDR`]);
  }
  const hopOf = (from: string, to: string): Hop => {
    const vs =
      from === 'ingress'
        ? vss.find((v) => v.spec.gateways?.includes('shop-edge'))
        : vss.find((v) => v.spec.hosts.includes(host(to)) && !v.spec.gateways);
    assert.ok(vs, `VirtualService of ${from} -> ${to}`);
    const routes: Any[] = vs.spec.http;
    const tries = Math.max(...routes.map((r) => 1 + (r.retries?.attempts ?? 2)));
    const retryOn = routes.flatMap((r) =>
      (r.retries?.attempts ?? 2) > 0 ? String(r.retries.retryOn ?? '').split(',') : [],
    );
    return { from, to, vs, tries, retryOn };
  };
  const out: Hop[][] = [];
  const walk = (path: Hop[]) => {
    const last = path[path.length - 1]!;
    out.push(path);
    for (const next of calls[last.to] ?? []) walk([...path, hopOf(last.to, next)]);
  };
  walk([hopOf('ingress', 'gateway')]);
  walk([hopOf('helm-test', 'gateway')]);
  return out;
}

const describePath = (p: Hop[]) => [p[0]!.from, ...p.map((h) => h.to)].join(' -> ');
const worstCase = (p: Hop[]) => p.reduce((n, h) => n * h.tries, 1);

void describe('retries: the default routes do not amplify', () => {
  const objects = render({});
  const paths = callPaths(objects);

  void it('the call paths are the architecture ones', () => {
    assert.deepEqual(paths.map(describePath).sort(), [
      'helm-test -> gateway',
      'helm-test -> gateway -> inventory',
      'helm-test -> gateway -> orders',
      'helm-test -> gateway -> orders -> inventory',
      'helm-test -> gateway -> payments',
      'ingress -> gateway',
      'ingress -> gateway -> inventory',
      'ingress -> gateway -> orders',
      'ingress -> gateway -> orders -> inventory',
      'ingress -> gateway -> payments',
    ]);
  });

  void it('worst case along every path: at most 2 tries in all, one retrying layer', () => {
    for (const p of paths) {
      assert.ok(worstCase(p) <= 2, `${describePath(p)}: ${worstCase(p)} tries`);
      const retrying = p.filter((h) => h.tries > 1);
      assert.ok(retrying.length <= 1, `${describePath(p)}: ${retrying.length} retrying layers`);
    }
  });

  void it('every route sets retries explicitly (no Istio default of 2), conditions that cannot make it worse', () => {
    for (const vs of objectsOf<Any>(objects, 'VirtualService'))
      for (const r of vs.spec.http ?? []) {
        const where = `${vs.metadata.name}/${r.name}`;
        assert.ok(r.retries && Number.isInteger(r.retries.attempts), `${where}: retries.attempts is set`);
        if (r.retries.attempts === 0) {
          assert.deepEqual(Object.keys(r.retries), ['attempts'], where);
          continue;
        }
        for (const c of String(r.retries.retryOn).split(','))
          assert.ok(BEFORE_DELIVERY.has(c) || IDEMPOTENT_ONLY.has(c), `${where}: retries on ${c}`);
        assert.ok(
          (1 + r.retries.attempts) * ms(r.retries.perTryTimeout) <= ms(r.timeout),
          `${where}: (1 + ${r.retries.attempts}) x ${r.retries.perTryTimeout} fits in ${r.timeout}`,
        );
      }
  });

  void it('POSTs and the gateway own 503s are never retried: the edge and orders retry only before delivery', () => {
    for (const p of paths)
      for (const h of p)
        if (h.to === 'gateway' || h.to === 'orders')
          for (const c of h.retryOn)
            assert.ok(BEFORE_DELIVERY.has(c), `${h.from} -> ${h.to} retries on ${c}`);
  });
});

void describe('retries: the retry-storm overlay keeps the storm', () => {
  void it('one POST through the edge becomes up to 36 inventory calls; the edge retries 503', () => {
    assert.ok(existsSync(OVERLAY), OVERLAY);
    const paths = callPaths(renderWith({}, [OVERLAY]));
    const post = paths.find((p) => describePath(p) === 'ingress -> gateway -> orders -> inventory');
    assert.ok(post);
    assert.equal(worstCase(post), 36);
    assert.ok(post[0]!.retryOn.includes('503'), 'the edge retries the gateway own 503s');
    assert.ok(post[2]!.retryOn.includes('resource-exhausted') && post[2]!.retryOn.includes('cancelled'));
    assert.ok(post.filter((h) => h.tries > 1).length === 3, 'every layer retries');
  });
});

void describe('retries: values the chart refuses', () => {
  const refused = (values: unknown, pattern: RegExp) => {
    const r = renderRaw(values);
    assert.notEqual(r.status, 0, `accepted: ${JSON.stringify(values)}`);
    assert.match(r.stderr, pattern);
  };
  void it('tries that do not fit in the route timeout, naming the route and the numbers', () => {
    refused(
      { services: { inventory: { route: { retries: { attempts: 3, perTryTimeout: '1s' } } } } },
      /services\.inventory\.route: \(1 \+ retries\.attempts 3\) x retries\.perTryTimeout 1s exceeds route\.timeout 3s/,
    );
  });
  void it('an unknown retry condition, a duration in minutes, too many attempts, a bad backoff', () => {
    refused(
      { services: { orders: { route: { retries: { retryOn: 'connect-failure,sometimes' } } } } },
      /\/services\/orders\/route\/retries\/retryOn/,
    );
    refused({ services: { orders: { route: { timeout: '1m' } } } }, /\/services\/orders\/route\/timeout/);
    refused(
      { services: { payments: { route: { retries: { attempts: 9 } } } } },
      /\/services\/payments\/route\/retries\/attempts/,
    );
    refused(
      { services: { gateway: { route: { retries: { backoff: 'soon' } } } } },
      /\/services\/gateway\/route\/retries\/backoff/,
    );
  });
  void it('a retry budget of 0 %, a Sidecar host without a namespace, a propagated authorization header', () => {
    refused({ mesh: { retryBudget: { enabled: true, percent: 0 } } }, /\/mesh\/retryBudget\/percent/);
    refused(
      { mesh: { sidecarScope: { enabled: true, extraHosts: ['example.com'] } } },
      /\/mesh\/sidecarScope\/extraHosts\/0/,
    );
    refused({ mesh: { propagateHeaders: ['authorization'] } }, /\/mesh\/propagateHeaders\/0/);
  });
});

// The Istio CRD schemas of @kubernetes-models/istio (as schemas.test.ts uses them).
async function istioValid(obj: Any): Promise<string[]> {
  const file = `@kubernetes-models/istio/_schemas/NetworkingIstioIoV1${obj.kind}.js`;
  let dir = __dirname;
  while (!existsSync(join(dir, 'node_modules', file))) {
    assert.notEqual(dir, join(dir, '..'), `${file} not found`);
    dir = join(dir, '..');
  }
  const mod = (await import(pathToFileURL(join(dir, 'node_modules', file)).href)) as {
    validate: ((d: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] };
  };
  return mod.validate(obj)
    ? []
    : (mod.validate.errors ?? []).map(
        (e) => `${obj.kind}/${obj.metadata.name} ${e.instancePath} ${e.message}`,
      );
}

void describe('Istio lab values', () => {
  void it('mesh.retryBudget puts a budget in every service DestinationRule; off by default', async () => {
    for (const dr of objectsOf<Any>(render({}), 'DestinationRule'))
      assert.equal(dr.spec.trafficPolicy.retryBudget, undefined, dr.metadata.name);
    const objects = render({ mesh: { retryBudget: { enabled: true, percent: 25, minRetryConcurrency: 2 } } });
    for (const s of SERVICES) {
      const dr = objectsOf<Any>(objects, 'DestinationRule').find((d) => d.metadata.name === s);
      assert.deepEqual(dr.spec.trafficPolicy.retryBudget, { percent: 25, minRetryConcurrency: 2 }, s);
      assert.deepEqual(await istioValid(dr), []);
    }
  });

  void it('a retry backoff is rendered on the route', () => {
    const objects = render({ services: { gateway: { route: { retries: { backoff: '100ms' } } } } });
    const edge = objectsOf<Any>(objects, 'VirtualService').find((v) => v.metadata.name === 'shop-edge');
    for (const r of edge.spec.http) assert.equal(r.retries.backoff, '100ms');
  });

  void it('mesh.sidecarScope: one Sidecar per service, egress exactly its call-graph targets', async () => {
    assert.equal(objectsOf(render({}), 'Sidecar').length, 0);
    const objects = render({ mesh: { sidecarScope: { enabled: true, extraHosts: ['issuer/*'] } } });
    const expected: Record<string, string[]> = {
      gateway: ['orders', 'inventory', 'payments'],
      orders: ['inventory', 'kafka', 'postgresql'],
      inventory: ['kafka', 'postgresql'],
      payments: ['kafka', 'postgresql'],
    };
    const sidecars = objectsOf<Any>(objects, 'Sidecar');
    assert.deepEqual(sidecars.map((s) => s.metadata.name).sort(), [...SERVICES].sort());
    for (const sc of sidecars) {
      const name = sc.metadata.name as string;
      assert.deepEqual(sc.spec.workloadSelector.labels, { app: name });
      const hosts: string[] = sc.spec.egress[0].hosts;
      assert.deepEqual(
        hosts.filter((h) => h.startsWith('./')).sort(),
        expected[name]!.map((t) => `./${host(t)}`).sort(),
        name,
      );
      for (const h of ['istio-system/*', 'observability/*', 'issuer/*']) assert.ok(hosts.includes(h), h);
      assert.deepEqual(await istioValid(sc), []);
    }
  });
});

void describe('the canary is isolated and reachable by header below the edge', () => {
  const objects = render({
    mesh: { propagateHeaders: ['x-lab-fault'] },
    services: {
      orders: { canary: { enabled: true, weight: 0, tag: '0.2.0', version: '0.2.0' } },
      inventory: { canary: { enabled: true, weight: 0, tag: '0.2.0', version: '0.2.0' } },
      payments: { canary: { enabled: true, weight: 0, tag: '0.2.0', version: '0.2.0' } },
    },
  });
  const envOf = (deployment: string): Record<string, string> => {
    const d = objectsOf<Any>(objects, 'Deployment').find((o) => o.metadata.name === deployment);
    assert.ok(d, deployment);
    return Object.fromEntries(
      (d.spec.template.spec.containers[0].env ?? []).map((e: Any) => [e.name, e.value]),
    );
  };

  void it('a canary consumes no saga topic, migrates nothing and sweeps no saga; the stable track does all three', () => {
    for (const s of ['orders', 'inventory', 'payments']) {
      const canary = envOf(`${s}-canary`);
      assert.equal(canary.KAFKA_CONSUMERS, 'off', s);
      assert.equal(canary.DATABASE_MIGRATIONS, 'check', s);
      const stable = envOf(`${s}-stable`);
      assert.equal(stable.KAFKA_CONSUMERS, undefined, s);
      assert.equal(stable.DATABASE_MIGRATIONS, undefined, s);
    }
    assert.equal(envOf('orders-canary').SAGA_SWEEPER, 'off', 'the orders canary sweeps no saga');
    assert.equal(envOf('orders-stable').SAGA_SWEEPER, undefined);
  });

  void it('every service passes the canary header on; the services below the edge route it to their canary', () => {
    for (const s of SERVICES) {
      const data = objectsOf<Any>(objects, 'ConfigMap').find((c) => c.metadata.name === `${s}-config`).data;
      assert.equal(data.ROUTING_HEADERS, 'x-canary,x-lab-fault', s);
    }
    for (const s of ['orders', 'inventory', 'payments']) {
      const vs = objectsOf<Any>(objects, 'VirtualService').find((v) => v.metadata.name === s);
      const byHeader = vs.spec.http[0];
      assert.equal(byHeader.name, 'canary-by-header');
      assert.deepEqual(byHeader.match[0].headers, { 'x-canary': { exact: 'true' } });
      assert.equal(byHeader.route[0].destination.subset, 'canary');
      const weighted = vs.spec.http.find((r: Any) => r.name === 'weighted');
      assert.equal(weighted.route.find((d: Any) => d.destination.subset === 'canary').weight, 0);
    }
  });
});
