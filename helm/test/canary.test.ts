// k8s/canary.sh against recording stubs of kubectl, helm, kind, curl (Prometheus), podman and npm: it deploys only
// an image it built or found and loaded into kind, and its gate sees gRPC failures and refuses to promote a canary
// that had too little traffic to judge.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { repoRoot } from './support';
import { missingInOrder, runWithStubs, type Call, type Rule } from './stub-tools';

const SCRIPT = join(repoRoot, 'k8s', 'canary.sh');
const IMAGE = 'cloud-native-shop/orders:0.2.0';
const line = (c: Call) => `${c.tool} ${c.args.join(' ')}`;

const healthyPods: Rule[] = [
  { tool: 'kubectl', has: ['rollout', 'status', 'deployment/orders-canary'] },
  { tool: 'kubectl', has: ['get', 'deployment', 'orders-canary', '{.spec.replicas}'], stdout: '1' },
  { tool: 'kubectl', has: ['get', 'deployment', 'orders-canary', '{.status.readyReplicas}'], stdout: '1' },
  {
    tool: 'kubectl',
    has: ['get', 'deployment', 'orders-canary', '{.metadata.labels.version}'],
    stdout: '0.2.0',
  },
  { tool: 'kubectl', has: ['get', 'pods', 'track=canary'], stdout: '0\n' },
];
const prometheus = (total: number, errors: number): Rule[] => [
  // The error query (5xx, then the gRPC statuses) first: the total query has no response_code matcher.
  {
    tool: 'curl',
    has: ['/api/v1/query', 'response_code=~'],
    stdout: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"${errors}"]}]}}`,
  },
  {
    tool: 'curl',
    has: ['/api/v1/query', 'istio_requests_total'],
    stdout: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"${total}"]}]}}`,
  },
];
const helmAny: Rule = { tool: 'helm', has: ['upgrade', 'shop'] };
const promoteEnv = { PROMETHEUS_URL: 'http://prometheus.test:9090', STEP_PAUSE: '0' };

void describe('canary.sh start: the image it deploys exists on the kind nodes', () => {
  const build: Rule[] = [
    { tool: 'podman', has: ['image', 'inspect', IMAGE], when: { built: '1' } },
    { tool: 'podman', has: ['image', 'inspect', IMAGE], exit: 125, stderr: 'Error: no such image\n' },
    {
      tool: 'npm',
      has: ['run', 'images', '--', '--service', 'orders', '--tag', '0.2.0'],
      set: { built: '1' },
    },
    { tool: 'podman', has: ['save', '--format', 'docker-archive', IMAGE] },
    { tool: 'kind', has: ['load', 'image-archive', '--name', 'cloud-native-shop'], set: { loaded: '1' } },
    // The canary is deployed only once its image is on the nodes: without `loaded` no rule answers helm.
    { tool: 'helm', has: ['upgrade', 'shop'], when: { loaded: '1' } },
    ...healthyPods,
  ];

  void it('an absent image is built with npm run images, loaded with kind, then deployed at 0%', () => {
    const r = runWithStubs(SCRIPT, ['orders', 'start', '0.2.0'], build, {}, { CONTAINER_ENGINE: 'podman' }, [
      'podman',
      'npm',
    ]);
    assert.equal(r.status, 0, r.stderr + r.unmatched);
    assert.equal(r.unmatched, '');
    const missing = missingInOrder(r.calls, [
      ['podman', ['image', 'inspect', IMAGE]],
      ['npm', ['run', 'images', '--service', 'orders', '--tag', '0.2.0']],
      ['podman', ['save', IMAGE]],
      ['kind', ['load', 'image-archive']],
      ['helm', ['upgrade', 'services.orders.canary.enabled=true', 'services.orders.canary.tag=0.2.0']],
    ]);
    assert.equal(missing, undefined, r.calls.map(line).join('\n'));
    const upgrade = r.calls.find((c) => c.tool === 'helm')!;
    assert.ok(line(upgrade).includes('services.orders.canary.weight=0'));
  });

  void it('an image already built is not rebuilt, but still loaded', () => {
    const r = runWithStubs(
      SCRIPT,
      ['orders', 'start', '0.2.0'],
      build,
      { built: '1' },
      { CONTAINER_ENGINE: 'podman' },
      ['podman', 'npm'],
    );
    assert.equal(r.status, 0, r.stderr + r.unmatched);
    assert.ok(!r.calls.some((c) => c.tool === 'npm'));
    assert.ok(r.calls.some((c) => c.tool === 'kind' && c.args.includes('image-archive')));
  });

  void it('BUILD=never refuses an absent image: nothing deployed, the image named', () => {
    const r = runWithStubs(
      SCRIPT,
      ['orders', 'start', '0.2.0'],
      build,
      {},
      { CONTAINER_ENGINE: 'podman', BUILD: 'never' },
      ['podman', 'npm'],
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /image cloud-native-shop\/orders:0\.2\.0 is not in podman/);
    assert.ok(!r.calls.some((c) => c.tool === 'helm' || c.tool === 'kind' || c.tool === 'npm'));
  });

  void it('with docker, the image is loaded with kind load docker-image', () => {
    const r = runWithStubs(
      SCRIPT,
      ['orders', 'start', '0.2.0'],
      [
        { tool: 'docker', has: ['image', 'inspect', IMAGE] },
        {
          tool: 'kind',
          has: ['load', 'docker-image', IMAGE, '--name', 'cloud-native-shop'],
          set: { loaded: '1' },
        },
        { tool: 'helm', has: ['upgrade', 'shop'], when: { loaded: '1' } },
        ...healthyPods,
      ],
      {},
      { CONTAINER_ENGINE: 'docker' },
      ['docker', 'npm'],
    );
    assert.equal(r.status, 0, r.stderr + r.unmatched);
  });

  void it('bad input is refused with the usage line', () => {
    for (const [args, env, re] of [
      [['orders', 'start', 'latest'], {}, /not a pinned tag/],
      [
        ['orders', 'start', '0.2.0'],
        { CONTAINER_ENGINE: 'lxc' },
        /CONTAINER_ENGINE must be docker or podman/,
      ],
      [['orders', 'promote'], { MIN_REQUESTS: '0', PROMETHEUS_URL: 'http://p' }, /MIN_REQUESTS/],
      [['billing', 'status'], {}, /usage:/],
    ] as const) {
      const r = runWithStubs(SCRIPT, [...args], [], {}, { ...env });
      assert.equal(r.status, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: .*canary\.sh/);
      assert.match(r.stderr, re);
      assert.equal(r.calls.length, 0);
    }
  });
});

void describe('canary.sh promote: the gate', () => {
  void it('without PROMETHEUS_URL it refuses to promote at all', () => {
    const r = runWithStubs(SCRIPT, ['orders', 'promote'], [helmAny, ...healthyPods], {}, { STEP_PAUSE: '0' });
    assert.equal(r.status, 64);
    assert.match(r.stderr, /promote needs PROMETHEUS_URL/);
    assert.ok(!r.calls.some((c) => c.tool === 'helm'));
  });

  void it('a canary failing every gRPC call (HTTP 200, grpc-status 14) is rolled back at 5%', () => {
    const r = runWithStubs(
      SCRIPT,
      ['orders', 'promote'],
      [helmAny, ...healthyPods, ...prometheus(400, 400)],
      {},
      promoteEnv,
    );
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /error ratio 1\.0000 above 0\.01/);
    const helmCalls = r.calls.filter((c) => c.tool === 'helm').map(line);
    assert.equal(helmCalls.length, 2, helmCalls.join('\n'));
    assert.match(helmCalls[0]!, /canary\.weight=5/);
    assert.match(helmCalls[1]!, /canary\.weight=0 .*canary\.enabled=false/);
    // The queries: per destination version, counted by the receiving sidecar, 5xx and gRPC server errors.
    const queries = r.calls.filter((c) => c.tool === 'curl').map(line);
    const errorQuery = queries.find((q) => q.includes('response_code=~'))!;
    assert.ok(errorQuery, queries.join('\n'));
    for (const part of [
      'reporter="destination"',
      'destination_app="orders"',
      'destination_version="0.2.0"',
      'response_code=~"5.."',
      'grpc_response_status=~"2|4|8|12|13|14|15"',
    ])
      assert.ok(errorQuery.includes(part), `${part} in ${errorQuery}`);
  });

  void it('no traffic (or too little) is not a pass: rolled back, saying why', () => {
    for (const total of [0, 12]) {
      const r = runWithStubs(
        SCRIPT,
        ['orders', 'promote'],
        [helmAny, ...healthyPods, ...prometheus(total, 0)],
        {},
        promoteEnv,
      );
      assert.equal(r.status, 1, `${total}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${total} requests in 30s, fewer than MIN_REQUESTS=50`));
      assert.ok(
        r.calls.some((c) => c.tool === 'helm' && c.args.includes('services.orders.canary.enabled=false')),
      );
    }
  });

  void it('a healthy canary with enough traffic goes through 5, 25, 50 and 100', () => {
    const r = runWithStubs(
      SCRIPT,
      ['orders', 'promote'],
      [helmAny, ...healthyPods, ...prometheus(1000, 3)],
      {},
      promoteEnv,
    );
    assert.equal(r.status, 0, r.stderr + r.unmatched);
    const weights = r.calls
      .filter((c) => c.tool === 'helm')
      .map((c) => /canary\.weight=(\d+)/.exec(line(c))?.[1]);
    assert.deepEqual(weights, ['5', '25', '50', '100']);
    assert.match(r.stdout, /3 of 1000 requests failed \(ratio 0\.0030\)/);
  });
});
