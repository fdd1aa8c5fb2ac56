// k8s/verify.sh against recording stubs of kubectl, helm and curl: a cluster wired as the chart's call graph says
// passes (the matrix printed, every check held); a cluster where a forbidden edge is reached, plaintext gets through,
// a target is down and the trace lacks a service fails (exit 1) naming each miss; bad arguments exit 2.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { CONTEXT, report } from './cluster-lab-harness';
import { repoRoot } from './support';
import type { Rule } from './stub-tools';
import { runWithStubs } from './stub-tools';

const VERIFY = join(repoRoot, 'k8s', 'verify.sh');
interface Edge {
  from: string;
  to: string;
  port: string;
}
const graph = (parse(readFileSync(join(repoRoot, 'helm', 'values.yaml'), 'utf8')) as { callGraph: Edge[] })
  .callGraph;
const services = ['gateway', 'orders', 'inventory', 'payments'];
const targets = [...new Set(graph.filter((e) => e.from !== 'helm-test').map((e) => e.to))];
const host = (t: string) => `${t}.shop.svc.cluster.local`;

/** What the probe prints in a source's pod when the mesh enforces the call graph (flip: pairs answered the wrong way). */
function probeOutput(source: string, flip: string[] = []): string {
  return targets
    .map((t) => {
      let reached = graph.some((e) => e.from === source && e.to === t) || t === source;
      if (flip.includes(t)) reached = !reached;
      const kind = graph.find((e) => e.to === t)!.port;
      const yes =
        kind === 'grpc'
          ? 'reached http=200 grpc=0'
          : kind === 'http'
            ? 'reached http=200'
            : 'reached bytes=8';
      const no =
        kind === 'grpc' ? 'denied http=200 grpc=7' : kind === 'http' ? 'denied http=403' : 'denied closed';
      return `${host(t)} ${reached ? yes : no}`;
    })
    .join('\n');
}
const target = (job: string, health = 'up') => ({
  labels: { job, pod: `${job}-x` },
  scrapeUrl: `http://10.0.0.1:15020/${job}`,
  health,
});
const targetsJson = (down = '') =>
  JSON.stringify({
    status: 'success',
    data: {
      activeTargets: [...services, 'istiod', 'kube-state-metrics'].map((j) =>
        target(j, j === down ? 'down' : 'up'),
      ),
    },
  });
const traceJson = (...names: string[]) =>
  JSON.stringify({
    data: [{ processes: Object.fromEntries(names.map((n, i) => [`p${i}`, { serviceName: n }])) }],
  });

const rules = (): Rule[] => [
  CONTEXT,
  { tool: 'helm', has: ['get values shop -n shop -a -o json'], stdout: JSON.stringify({ callGraph: graph }) },
  ...services.map((s): Rule => ({
    tool: 'kubectl',
    has: [`-n shop exec deploy/${s}-stable -c ${s} -- env PROBE_TIMEOUT_MS=3000 node -e`],
    stdout: probeOutput(s),
  })),
  { tool: 'curl', has: ['-X GET', '/v1/products'], stdout: '200 0.02' },
  {
    tool: 'curl',
    has: ['-X POST', '/v1/orders'],
    body: '{"id":"ord-1","status":"PENDING","traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}',
    stdout: '201 0.05',
  },
  {
    tool: 'kubectl',
    has: ['get deployment gateway-stable', 'image'],
    stdout: 'cloud-native-shop/gateway:0.1.0',
  },
  { tool: 'kubectl', has: ['get peerauthentication default'], stdout: 'STRICT' },
  { tool: 'kubectl', has: ['delete pod verify-plaintext --ignore-not-found'] },
  {
    tool: 'kubectl',
    has: [
      'run verify-plaintext --rm -i --restart=Never',
      '"sidecar.istio.io/inject":"false"',
      'grpc:inventory',
    ],
    stdout: 'inventory.shop.svc.cluster.local refused ECONNRESET\n',
  },
  { tool: 'kubectl', has: ['get --raw', '/api/v1/targets?state=active'], stdout: targetsJson() },
  {
    tool: 'kubectl',
    has: ['get --raw', 'jaeger-query:16686/proxy/api/traces/4bf92f3577b34da6a3ce929d0e0e4736'],
    stdout: traceJson('gateway', 'gateway.shop', 'orders', 'inventory'),
  },
];

void describe('k8s/verify.sh against recording stubs', () => {
  void it('a cluster wired as the call graph says: the matrix, every check held (exit 0)', () => {
    const r = runWithStubs(VERIFY, [], rules());
    assert.equal(r.status, 0, report(r));
    assert.equal(r.unmatched, '');
    assert.match(r.stdout, /^from \\ to +gateway +inventory +kafka +orders +payments +postgresql/m);
    assert.match(r.stdout, /^gateway +- +ok reached +ok denied +ok reached +ok reached +ok denied/m);
    assert.match(r.stdout, /^payments +ok denied +ok denied +ok reached +ok denied +- +ok reached/m);
    assert.match(r.stdout, /^ok +plaintext to inventory from a pod without a sidecar +refused +refused/m);
    assert.match(r.stdout, /^ok +scraped: istiod/m);
    assert.match(r.stdout, /verify: every check held/);
    // Every service's pod probed every target, with the chart's ports.
    for (const s of services) {
      const call = r.calls.find((c) => c.args.includes(`deploy/${s}-stable`));
      assert.ok(call, s);
      for (const a of [
        'grpc:orders.shop.svc.cluster.local:50051',
        'postgres:postgresql.shop.svc.cluster.local:5432',
      ])
        assert.ok(call.args.includes(a), `${s}: ${a}`);
    }
  });

  void it('a forbidden edge reached, plaintext accepted, a target down, a trace without orders: exit 1', () => {
    const broken: Rule[] = [
      {
        tool: 'kubectl',
        has: ['exec deploy/orders-stable -c orders'],
        stdout: probeOutput('orders', ['payments', 'postgresql']),
      },
      {
        tool: 'kubectl',
        has: ['run verify-plaintext'],
        stdout: 'inventory.shop.svc.cluster.local reached http=200 grpc=0\n',
      },
      { tool: 'kubectl', has: ['get --raw', '/api/v1/targets'], stdout: targetsJson('payments') },
      { tool: 'kubectl', has: ['get --raw', '/api/traces/'], stdout: traceJson('gateway') },
    ];
    const r = runWithStubs(VERIFY, [], [CONTEXT, ...broken, ...rules()]);
    assert.equal(r.status, 1, report(r));
    assert.match(r.stdout, /^orders +ok denied +ok reached +ok reached +- +MISS reached +MISS denied/m);
    assert.match(r.stdout, /^MISS +orders -> payments +denied +reached http=200 grpc=0$/m);
    assert.match(r.stdout, /^MISS +orders -> postgresql +reached +denied closed$/m);
    assert.match(r.stdout, /^MISS +connectivity matrix +0 misses +2/m);
    assert.match(r.stdout, /^MISS +plaintext to inventory from a pod without a sidecar +refused +reached/m);
    assert.match(r.stdout, /^MISS +Prometheus targets up .*down: http:\/\/10\.0\.0\.1:15020\/payments/m);
    assert.match(r.stdout, /^MISS +scraped: payments +>= 1 target up +0/m);
    assert.match(
      r.stdout,
      /^MISS +trace 4bf92f3577b34da6a3ce929d0e0e4736 in Jaeger +spans of gateway and orders +gateway/m,
    );
    assert.match(r.stdout, /verify: 7 check\(s\) MISSED/);
  });

  void it('bad arguments and a foreign context exit 2 before touching the cluster', () => {
    for (const args of [['--force'], ['now']]) {
      const r = runWithStubs(VERIFY, args, [CONTEXT]);
      assert.equal(r.status, 2, report(r));
      assert.match(r.stderr, /usage: .*verify\.sh \[--help\]/);
      assert.deepEqual(r.calls, []);
    }
    const prod = runWithStubs(
      VERIFY,
      [],
      [{ tool: 'kubectl', has: ['config current-context'], stdout: 'prod\n' }],
    );
    assert.equal(prod.status, 2, report(prod));
    assert.match(prod.stderr, /not kind-cloud-native-shop/);
    assert.equal(prod.calls.length, 1);
  });
});
