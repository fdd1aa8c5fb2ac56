/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   rendered manifests are untyped YAML, walked field by field; a missing field fails an assertion. */
// The chart and kind defects of issue 10 (item 2), each with the check that would have caught it: rendered-chart
// assertions (`helm template`), and k8s/kind-up.sh run against recording stubs of docker, kind, kubectl, helm and
// istioctl (helm/test/stub-tools.ts). Kafka's rendered configuration is also run for real: kafka-config.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { objectsOf, render, renderRaw, repoRoot } from './support';
import type { Rule } from './stub-tools';
import { missingInOrder, runWithStubs } from './stub-tools';

type Any = any;
const named = (objects: Any[], kind: string, name: string): Any => {
  const o = objectsOf<Any>(objects, kind).find((x) => x.metadata.name === name);
  assert.ok(o, `${kind} ${name}`);
  return o;
};
const pods = (objects: Any[]): { where: string; pod: Any }[] => [
  ...objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((o) => ({ where: `${o.kind}/${o.metadata.name}`, pod: o.spec.template })),
  ...objects.filter((o) => o.kind === 'Pod').map((o) => ({ where: `Pod/${o.metadata.name}`, pod: o })),
];
const properties = (text: string): Map<string, string> =>
  new Map(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
const BACKENDS = ['orders', 'inventory', 'payments'];

void describe('Kafka in the mesh', () => {
  const objects = render({}) as Any[];
  const cm = named(objects, 'ConfigMap', 'kafka-config').data;
  const props = properties(cm['server.properties']);
  const listeners = new Map(
    props
      .get('listeners')!
      .split(',')
      .map((l: string) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf('://') + 3)]),
  );
  const advertised = new Map(
    props
      .get('advertised.listeners')!
      .split(',')
      .map((l: string) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf('://') + 3)]),
  );

  void it('creates its topics through a loopback listener advertised as loopback, never the Service address', () => {
    const bootstraps = [...cm['start.sh'].matchAll(/--bootstrap-server (\S+)/g)].map((m) => m[1]);
    assert.ok(bootstraps.length >= 2, cm['start.sh']);
    for (const b of bootstraps) {
      const name = [...listeners].find(([, addr]) => addr === b)?.[0];
      assert.ok(name, `bootstrap ${b} is one of the listeners ${props.get('listeners')}`);
      // The metadata a client gets back names the advertised address of the listener it came in on: with the
      // Service address it would leave the pod through its own sidecar (denied: no kafka -> kafka edge).
      assert.match(advertised.get(name) ?? '', /^127\.0\.0\.1:\d+$/, `advertised ${name}`);
    }
    assert.match(advertised.get('PLAINTEXT') ?? '', /^kafka\.shop\.svc\.cluster\.local:9092$/);
    // The broker's own inter-broker traffic stays in the pod too.
    assert.match(advertised.get(props.get('inter.broker.listener.name')!) ?? '', /^127\.0\.0\.1:/);
    // The loopback listener is not reachable from outside the pod and not part of the Service.
    assert.match(listeners.get('LOCAL') ?? '', /^127\.0\.0\.1:/);
    const svc = named(objects, 'Service', 'kafka');
    assert.deepEqual(
      svc.spec.ports.map((p: Any) => p.port),
      [9092],
    );
  });

  void it('the log directory is a subdirectory of the data volume, never its root (lost+found)', () => {
    const sts = named(objects, 'StatefulSet', 'kafka');
    const mount = sts.spec.template.spec.containers[0].volumeMounts.find((m: Any) => m.name === 'data');
    const dirs = props.get('log.dirs')!;
    assert.ok(
      dirs.startsWith(`${mount.mountPath}/`) && dirs.length > mount.mountPath.length + 1,
      `${dirs} under ${mount.mountPath}`,
    );
    assert.match(cm['start.sh'], new RegExp(`mkdir -p ${dirs}`));
  });

  void it('the services wait for Kafka longer than Kafka may take to become Ready, instead of crash-looping', () => {
    const m = /for _ in \$\(seq 1 (\d+)\); do[\s\S]*?sleep (\d+)/.exec(cm['start.sh']);
    assert.ok(m, 'bounded wait in start.sh');
    const kafkaWaitMs = Number(m[1]) * Number(m[2]) * 1000;
    for (const s of BACKENDS) {
      const data = named(objects, 'ConfigMap', `${s}-config`).data;
      assert.ok(
        Number(data.STARTUP_TIMEOUT_MS) > kafkaWaitMs,
        `${s}: ${data.STARTUP_TIMEOUT_MS} > ${kafkaWaitMs}`,
      );
      // /livez answers while the service waits: the startup probe does not kill it meanwhile.
      const probe = named(objects, 'Deployment', `${s}-stable`).spec.template.spec.containers[0].startupProbe;
      assert.equal(probe.httpGet.path, '/livez');
    }
    assert.equal(named(objects, 'ConfigMap', 'gateway-config').data.STARTUP_TIMEOUT_MS, undefined);
  });
});

void describe('database passwords across reinstalls', () => {
  void it('every database Secret survives helm uninstall (resource-policy keep) and is looked up on upgrade', () => {
    const objects = render({}) as Any[];
    for (const name of ['orders-database', 'inventory-database', 'payments-database', 'postgresql-admin'])
      assert.equal(
        named(objects, 'Secret', name).metadata.annotations?.['helm.sh/resource-policy'],
        'keep',
        name,
      );
    const tpl = readFileSync(join(repoRoot, 'helm', 'templates', 'postgresql.yaml'), 'utf8');
    assert.match(tpl, /lookup "v1" "Secret" \$root\.Release\.Namespace \$secretName/);
    assert.match(tpl, /lookup "v1" "Secret" \.Release\.Namespace "postgresql-admin"/);
  });

  void it('an existingSecret is used as is: no Secret of the chart for it', () => {
    const objects = render({
      services: { orders: { database: { existingSecret: 'orders-managed' } } },
    }) as Any[];
    assert.ok(!objectsOf<Any>(objects, 'Secret').some((s) => s.metadata.name === 'orders-database'));
    const env = named(objects, 'Deployment', 'orders-stable').spec.template.spec.containers[0].env;
    assert.equal(
      env.find((e: Any) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef.name,
      'orders-managed',
    );
  });
});

void describe('helm test orders as a fresh customer every run', () => {
  const script = (values: unknown) => {
    const pod = named(render(values) as Any[], 'Pod', 'shop-helm-test');
    const c = pod.spec.containers[0];
    return {
      code: c.args[0] as string,
      env: new Map(c.env.map((e: Any) => [e.name, e.value ?? e.valueFrom])),
    };
  };

  void it('no fixed customer id: a random one per run, registered at the issuer with helmTest.auth.register', () => {
    const open = script({ auth: { mode: 'open' } });
    assert.doesNotMatch(open.code, /customerId: 'helm-test'/);
    assert.match(open.code, /helm-test-\$\{crypto\.randomBytes/);
    const reg = script({ helmTest: { auth: { register: true } } });
    assert.equal(reg.env.get('REGISTER'), 'true');
    assert.match(reg.code, /\/accounts`/);
    assert.equal(script({}).env.get('REGISTER'), 'false');
  });

  void it('register and existingSecret together are refused, naming both', () => {
    const r = renderRaw({ helmTest: { auth: { register: true, existingSecret: 'shop-login' } } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /helmTest\.auth: set register .* or existingSecret .*, not both/);
  });
});

void describe('mesh.enabled=false', () => {
  void it('every pod says sidecar.istio.io/inject "false" (the kind namespace may be labelled for injection)', () => {
    const objects = render({ mesh: { enabled: false } }) as Any[];
    const list = pods(objects);
    assert.ok(list.length >= 7, list.map((p) => p.where).join(', '));
    for (const { where, pod } of list) {
      assert.equal(pod.metadata.labels['sidecar.istio.io/inject'], 'false', where);
      assert.equal(pod.metadata.annotations?.['proxy.istio.io/config'], undefined, where);
    }
  });
  void it('with the mesh every pod is injected', () => {
    for (const { where, pod } of pods(render({}) as Any[]))
      assert.equal(pod.metadata.labels['sidecar.istio.io/inject'], 'true', where);
  });
});

void describe('PostgreSQL max_connections from the pools at full scale', () => {
  const maxConnections = (values: unknown): number => {
    const c = named(render(values) as Any[], 'StatefulSet', 'postgresql').spec.template.spec.containers[0];
    const arg = c.args.find((a: string) => a.startsWith('max_connections='));
    assert.ok(arg, JSON.stringify(c.args));
    return Number(arg.slice('max_connections='.length));
  };

  void it('default: 3 services x 10 pods (maxReplicas) x 10 (pool) + 20 reserved = 320', () => {
    assert.equal(maxConnections({}), 320);
  });

  void it('follows replicas without autoscaling, canary replicas, DATABASE_POOL_MAX and reservedConnections', () => {
    assert.equal(
      maxConnections({
        services: {
          orders: {
            autoscaling: { enabled: false },
            replicas: 3,
            env: { DATABASE_POOL_MAX: '5' },
            canary: { enabled: true, replicas: 2, weight: 10, tag: '0.2.0' },
          },
          inventory: { autoscaling: { maxReplicas: 4 } },
          payments: { autoscaling: { maxReplicas: 6 }, env: { DATABASE_POOL_MAX: '20' } },
        },
        postgresql: { reservedConnections: 10 },
      }),
      (3 + 2) * 5 + 4 * 10 + 6 * 20 + 10,
    );
  });

  void it('an explicit maxConnections below the pools fails the render, naming both numbers', () => {
    const r = renderRaw({ postgresql: { maxConnections: 100 } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /postgresql\.maxConnections=100 is below .*\(300[^)]*\).*at least 320/);
    assert.equal(maxConnections({ postgresql: { maxConnections: 400 } }), 400);
  });
});

void describe('checksum/config covers every value that feeds the pods', () => {
  const sums = (values: unknown): Record<string, string> => {
    const objects = render(values) as Any[];
    const out: Record<string, string> = {};
    for (const s of ['gateway', ...BACKENDS])
      out[s] = named(objects, 'Deployment', `${s}-stable`).spec.template.metadata.annotations[
        'checksum/config'
      ];
    out.kafka = named(objects, 'StatefulSet', 'kafka').spec.template.metadata.annotations['checksum/config'];
    return out;
  };
  const base = sums({});
  const changes: [string, unknown, string[]][] = [
    ['logLevel', { logLevel: 'debug' }, ['gateway', ...BACKENDS]],
    ['environment', { environment: 'staging' }, ['gateway', ...BACKENDS]],
    ['shutdown', { shutdown: { drainDelayMs: 4000 } }, ['gateway', ...BACKENDS]],
    [
      'auth issuer',
      { auth: { oidc: { issuer: 'https://idp.example.net' } } },
      ['gateway', 'orders', 'payments'],
    ],
    ['telemetry', { telemetry: { samplerArg: '0.5' } }, ['gateway', ...BACKENDS]],
    ['startup', { startup: { timeoutMs: 600000 } }, BACKENDS],
    ['faults.adminApi', { faults: { adminApi: true } }, ['gateway', ...BACKENDS]],
    ['kafka.serverProperties', { kafka: { serverProperties: { 'log.retention.hours': 24 } } }, ['kafka']],
  ];
  for (const [what, values, affected] of changes) {
    void it(`${what} changes the checksum of ${affected.join(', ')}`, () => {
      const now = sums(values);
      for (const s of affected) assert.notEqual(now[s], base[s], s);
    });
  }
});

void describe('lab values of the pods and the stateful workloads', () => {
  void it("podAnnotations on every pod, a workload's own winning", () => {
    const objects = render({
      podAnnotations: { 'sidecar.istio.io/proxyCPU': '200m', 'sidecar.istio.io/proxyMemory': '128Mi' },
      services: { orders: { podAnnotations: { 'sidecar.istio.io/proxyCPU': '500m' } } },
      kafka: { podAnnotations: { 'sidecar.istio.io/proxyCPULimit': '1' } },
    }) as Any[];
    for (const { where, pod } of pods(objects).filter((p) => !p.where.startsWith('Pod/'))) {
      const a = pod.metadata.annotations;
      assert.equal(a['sidecar.istio.io/proxyMemory'], '128Mi', where);
      assert.equal(a['sidecar.istio.io/proxyCPU'], where.includes('orders') ? '500m' : '200m', where);
    }
    assert.equal(
      named(objects, 'StatefulSet', 'kafka').spec.template.metadata.annotations[
        'sidecar.istio.io/proxyCPULimit'
      ],
      '1',
    );
  });

  void it('probe overrides change the timing, never the handler', () => {
    const objects = render({
      services: {
        inventory: {
          probes: { startup: { failureThreshold: 90 }, readiness: { periodSeconds: 2, timeoutSeconds: 1 } },
        },
      },
    }) as Any[];
    const c = named(objects, 'Deployment', 'inventory-stable').spec.template.spec.containers[0];
    assert.deepEqual(c.startupProbe, {
      httpGet: { path: '/livez', port: 'http' },
      periodSeconds: 2,
      failureThreshold: 90,
    });
    assert.deepEqual(c.readinessProbe, {
      grpc: { port: 50051 },
      periodSeconds: 2,
      timeoutSeconds: 1,
      failureThreshold: 3,
    });
    const other = named(objects, 'Deployment', 'orders-stable').spec.template.spec.containers[0];
    assert.equal(other.readinessProbe.periodSeconds, 5);
  });

  void it("extra Kafka server properties and PostgreSQL settings; the chart's own keys are refused", () => {
    const objects = render({
      kafka: { serverProperties: { 'log.retention.hours': 24, 'message.max.bytes': 2097152 } },
      postgresql: { settings: { shared_buffers: '128MB', log_min_duration_statement: 250 } },
    }) as Any[];
    const props = properties(named(objects, 'ConfigMap', 'kafka-config').data['server.properties']);
    assert.equal(props.get('log.retention.hours'), '24');
    assert.equal(props.get('message.max.bytes'), '2097152');
    const args = named(objects, 'StatefulSet', 'postgresql').spec.template.spec.containers[0].args;
    assert.deepEqual(args.slice(0, 2), ['postgres', '-c']);
    for (const kv of ['shared_buffers=128MB', 'log_min_duration_statement=250'])
      assert.ok(args.includes(kv) && args[args.indexOf(kv) - 1] === '-c', kv);
    const listeners = renderRaw({
      kafka: { serverProperties: { 'advertised.listeners': 'PLAINTEXT://x:1' } },
    });
    assert.notEqual(listeners.status, 0);
    assert.match(listeners.stderr, /kafka\.serverProperties\.advertised\.listeners is set by the chart/);
    const mc = renderRaw({ postgresql: { settings: { max_connections: 50 } } });
    assert.notEqual(mc.status, 0);
    assert.match(mc.stderr, /postgresql\.settings\.max_connections: use postgresql\.maxConnections/);
  });

  void it('StatefulSet update strategy and PVC retention; Retain by default', () => {
    const def = render({}) as Any[];
    for (const s of ['kafka', 'postgresql']) {
      const spec = named(def, 'StatefulSet', s).spec;
      assert.deepEqual(spec.updateStrategy, { type: 'RollingUpdate' });
      assert.deepEqual(spec.persistentVolumeClaimRetentionPolicy, {
        whenDeleted: 'Retain',
        whenScaled: 'Retain',
      });
    }
    const lab = render({
      postgresql: {
        updateStrategy: { type: 'OnDelete' },
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
      },
      kafka: { updateStrategy: { type: 'RollingUpdate', partition: 1 } },
    }) as Any[];
    const pg = named(lab, 'StatefulSet', 'postgresql').spec;
    assert.deepEqual(pg.updateStrategy, { type: 'OnDelete' });
    assert.equal(pg.persistentVolumeClaimRetentionPolicy.whenDeleted, 'Delete');
    assert.deepEqual(named(lab, 'StatefulSet', 'kafka').spec.updateStrategy, {
      type: 'RollingUpdate',
      rollingUpdate: { partition: 1 },
    });
  });

  void it('mTLS mode: STRICT by default, PERMISSIVE for the labs', () => {
    assert.equal(named(render({}) as Any[], 'PeerAuthentication', 'default').spec.mtls.mode, 'STRICT');
    assert.equal(
      named(render({ mtls: { mode: 'PERMISSIVE' } }) as Any[], 'PeerAuthentication', 'default').spec.mtls
        .mode,
      'PERMISSIVE',
    );
  });

  const refused: [string, unknown, RegExp][] = [
    ['mtls.mode DISABLE', { mtls: { mode: 'DISABLE' } }, /\/mtls\/mode/],
    [
      'updateStrategy Recreate',
      { kafka: { updateStrategy: { type: 'Recreate' } } },
      /\/kafka\/updateStrategy\/type/,
    ],
    [
      'whenDeleted Keep',
      { postgresql: { persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Keep' } } },
      /\/postgresql\/persistentVolumeClaimRetentionPolicy\/whenDeleted/,
    ],
    [
      'probe period 0',
      { services: { orders: { probes: { liveness: { periodSeconds: 0 } } } } },
      /periodSeconds/,
    ],
    ['unknown probe', { services: { orders: { probes: { warmup: {} } } } }, /warmup/],
    ['startup.timeoutMs 1000', { startup: { timeoutMs: 1000 } }, /\/startup\/timeoutMs/],
    ['annotation value a number', { podAnnotations: { 'sidecar.istio.io/proxyCPU': 200 } }, /podAnnotations/],
    ['maxConnections -1', { postgresql: { maxConnections: -1 } }, /\/postgresql\/maxConnections/],
    ['pool size 0', { services: { payments: { env: { DATABASE_POOL_MAX: '0' } } } }, /DATABASE_POOL_MAX/],
    ['kafka property not dotted', { kafka: { serverProperties: { Retention: 1 } } }, /serverProperties/],
  ];
  for (const [name, values, names] of refused) {
    void it(`refused by the schema: ${name}`, () => {
      const r = renderRaw(values);
      assert.notEqual(r.status, 0, `${name} was accepted`);
      assert.match(r.stderr, names);
    });
  }
});

// ---- k8s/kind-up.sh against recording stubs --------------------------------------------------------------------

const KIND_UP = join(repoRoot, 'k8s', 'kind-up.sh');
const istioTag = (): string =>
  parse(readFileSync(join(repoRoot, 'k8s', 'istio', 'istio-operator.yaml'), 'utf8')).spec.tag as string;

function kindUpRules(istioctlVersion: string): Rule[] {
  return [
    { tool: 'docker', has: ['info'], stdout: 'Server Version: 27.0.0\n' },
    { tool: 'docker', has: ['build'], stdout: '' },
    { tool: 'kind', has: ['get clusters'], stdout: '' },
    { tool: 'kind', has: ['create cluster'], stdout: 'Creating cluster ...\n' },
    { tool: 'kind', has: ['load docker-image'], stdout: '' },
    { tool: 'istioctl', has: ['version', '--remote=false'], stdout: `client version: ${istioctlVersion}\n` },
    { tool: 'istioctl', has: ['install'], stdout: '✔ Installation complete\n' },
    {
      tool: 'kubectl',
      has: ['create namespace', '--dry-run=client'],
      stdout: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n',
    },
    { tool: 'kubectl', has: [], stdout: '' },
    { tool: 'helm', has: ['test'], stdout: 'Phase: Succeeded\n' },
    { tool: 'helm', has: [], stdout: '' },
  ];
}

void describe('k8s/kind-up.sh (recording stubs)', () => {
  const env = { SKIP_OBSERVABILITY: '1', SHOP_OIDC_ISSUER: 'http://172.18.0.1:8090' };

  void it('checks istioctl, creates the pinned cluster, installs metrics-server and Istio with CNI, then the chart', () => {
    const r = runWithStubs(KIND_UP, [], kindUpRules(istioTag()), {}, env, ['docker']);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\n${r.unmatched}`);
    const missing = missingInOrder(r.calls, [
      ['istioctl', ['version', '--remote=false']],
      ['kind', ['create cluster', 'kind-config.yaml']],
      [
        'helm',
        [
          'upgrade --install metrics-server metrics-server/metrics-server',
          '--version 3.13.0',
          '-n kube-system',
        ],
      ],
      ['istioctl', ['install -y -f', 'istio-operator.yaml']],
      [
        'kubectl',
        ['label namespace shop', 'istio-injection=enabled', 'pod-security.kubernetes.io/enforce=restricted'],
      ],
      ['helm', ['upgrade --install shop', '--set mesh.enabled=true', '--set helmTest.auth.register=true']],
      ['helm', ['test shop']],
    ]);
    assert.equal(missing, undefined, `missing ${missing}`);
    const ms = r.calls.find((c) => c.tool === 'helm' && c.args.includes('metrics-server/metrics-server'))!;
    assert.ok(ms.args.includes('args[0]=--kubelet-insecure-tls'), ms.args.join(' '));
    assert.ok(!r.calls.some((c) => c.args.join(' ').includes('helm-test-login')), 'no fixed test customer');
  });

  void it('refuses an istioctl of another version before creating anything', () => {
    const r = runWithStubs(KIND_UP, [], kindUpRules('1.26.0'), {}, env, ['docker']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`istioctl is version '1\\.26\\.0' but .*pins Istio ${istioTag().replace(/\./g, '\\.')}`),
    );
    assert.ok(!r.calls.some((c) => c.tool === 'kind' && c.args.includes('create')), 'no cluster created');
  });

  void it('MESH=false: no Istio, the namespace labelled injection disabled, the chart with mesh.enabled=false', () => {
    const r = runWithStubs(KIND_UP, [], kindUpRules('0.0.0'), {}, { ...env, MESH: 'false' }, ['docker']);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\n${r.unmatched}`);
    assert.ok(!r.calls.some((c) => c.tool === 'istioctl'), 'istioctl not called');
    const missing = missingInOrder(r.calls, [
      [
        'kubectl',
        ['label namespace shop', 'istio-injection=disabled', 'pod-security.kubernetes.io/enforce=restricted'],
      ],
      ['helm', ['upgrade --install shop', '--set mesh.enabled=false']],
    ]);
    assert.equal(missing, undefined, `missing ${missing}`);
  });

  void it('a bad MESH value is refused with a usage line', () => {
    const r = runWithStubs(KIND_UP, [], kindUpRules(istioTag()), {}, { ...env, MESH: 'yes' }, ['docker']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /MESH must be true or false, not 'yes'\nusage: /);
    assert.equal(r.calls.length, 0);
  });
});

void describe('kind cluster and Istio pins', () => {
  void it('every kind node image is pinned by digest (kind v0.29.0, Kubernetes v1.33.1)', () => {
    const cfg = parse(readFileSync(join(repoRoot, 'k8s', 'kind-config.yaml'), 'utf8'));
    assert.ok(cfg.nodes.length >= 3);
    for (const n of cfg.nodes)
      assert.equal(
        n.image,
        'kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f',
      );
  });

  void it('restricted Pod Security holds: Istio CNI on (no NET_ADMIN init container), no pod adds a capability', () => {
    const op = parse(readFileSync(join(repoRoot, 'k8s', 'istio', 'istio-operator.yaml'), 'utf8'));
    assert.equal(op.spec.components.cni.enabled, true);
    assert.equal(op.spec.values.pilot.cni.enabled, true);
    for (const values of [{}, { mesh: { enabled: false } }])
      for (const { where, pod } of pods(render(values) as Any[])) {
        const spec = pod.spec;
        assert.equal(spec.securityContext.runAsNonRoot, true, where);
        assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault', where);
        for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
          assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] }, `${where} ${c.name}`);
          assert.equal(c.securityContext.allowPrivilegeEscalation, false, `${where} ${c.name}`);
        }
      }
  });
});
