/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return --
   rendered manifests are untyped YAML, walked field by field; a missing field fails an assertion. */
// Policy checks over the rendered objects of every profile: workload hardening, routing consistency, mTLS and
// the allow-lists against the call graph of docs/architecture.md.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chartValues,
  merge,
  namespace,
  objectsOf,
  profiles,
  release,
  render,
  type Edge,
  type K8sObject,
} from './support';

type Any = any;

const SERVICES = ['gateway', 'orders', 'inventory', 'payments'];
const GRPC_SERVICES = ['orders', 'inventory', 'payments'];

// The call graph as docs/architecture.md states it, written out independently of values.yaml, plus the two
// callers from outside the services: the Istio ingress gateway and the `helm test` Pod.
const ARCHITECTURE_CALL_GRAPH: Edge[] = [
  { from: 'ingress', to: 'gateway', port: 'http' },
  { from: 'helm-test', to: 'gateway', port: 'http' },
  { from: 'gateway', to: 'orders', port: 'grpc' },
  { from: 'gateway', to: 'inventory', port: 'grpc' },
  { from: 'gateway', to: 'payments', port: 'grpc' },
  { from: 'orders', to: 'inventory', port: 'grpc' },
  ...GRPC_SERVICES.map((s) => ({ from: s, to: 'kafka', port: 'kafka' })),
  ...GRPC_SERVICES.map((s) => ({ from: s, to: 'postgresql', port: 'postgres' })),
];
const PORTS: Record<string, number> = { grpc: 50051, http: 8080, postgres: 5432, kafka: 9092 };
const edgeKey = (e: { from: string; to: string; port: number | string }): string =>
  `${e.from} -> ${e.to}:${e.port}`;

const rendered = Object.entries(profiles).map(([name, overrides]) => ({
  name,
  values: merge(chartValues, overrides) as Any,
  objects: render(overrides),
}));

function workloads(objects: K8sObject[]): { obj: K8sObject; pod: Any; hook: boolean }[] {
  const out: { obj: K8sObject; pod: Any; hook: boolean }[] = [];
  for (const o of objects as Any[]) {
    if (o.kind === 'Deployment' || o.kind === 'StatefulSet')
      out.push({ obj: o, pod: o.spec.template, hook: false });
    if (o.kind === 'Pod')
      out.push({ obj: o, pod: o, hook: Boolean(o.metadata.annotations?.['helm.sh/hook']) });
  }
  return out;
}

const byName = (objects: K8sObject[], kind: string, name: string): Any =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);

void describe('declared call graph', () => {
  void it('values.yaml callGraph is exactly the architecture call graph', () => {
    assert.deepEqual(chartValues.callGraph.map(edgeKey).sort(), ARCHITECTURE_CALL_GRAPH.map(edgeKey).sort());
  });
});

for (const { name, values, objects } of rendered) {
  const mesh = values.mesh.enabled as boolean;
  const inCluster = (t: string): boolean =>
    t === 'postgresql' ? values.postgresql.enabled : t === 'kafka' ? values.kafka.enabled : true;

  void describe(`profile ${name}`, () => {
    void it('every service drains on SIGTERM: not ready first, serving on while its endpoint is removed', () => {
      for (const svc of SERVICES) {
        const data = byName(objects, 'ConfigMap', `${svc}-config`)?.data;
        assert.ok(data, `ConfigMap ${svc}-config`);
        const delay = Number(data.SHUTDOWN_DRAIN_DELAY_MS);
        const timeout = Number(data.SHUTDOWN_TIMEOUT_MS);
        assert.ok(
          delay >= 3000,
          `${svc}: SHUTDOWN_DRAIN_DELAY_MS ${data.SHUTDOWN_DRAIN_DELAY_MS} covers endpoint removal`,
        );
        assert.ok(delay <= timeout / 2, `${svc}: the delay is capped at half of SHUTDOWN_TIMEOUT_MS`);
        const deployments = objects.filter(
          (o: Any) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/name'] === svc,
        ) as Any[];
        assert.ok(deployments.length >= 1, `${svc}: a Deployment`);
        for (const d of deployments) {
          const grace = Number(d.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
          assert.ok(
            timeout < grace,
            `${d.metadata.name}: SHUTDOWN_TIMEOUT_MS ${timeout} within the grace period ${grace}`,
          );
        }
      }
    });
    void it('every workload has resources, probes and the restricted security context', () => {
      const list = workloads(objects);
      assert.ok(list.length >= 4);
      for (const { obj, pod, hook } of list) {
        const where = `${obj.kind}/${obj.metadata.name}`;
        const spec = pod.spec;
        assert.equal(spec.hostNetwork ?? false, false, where);
        assert.equal(spec.hostPID ?? false, false, where);
        assert.equal(spec.securityContext?.runAsNonRoot, true, `${where}: pod runAsNonRoot`);
        assert.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: pod seccomp`);
        assert.ok(!(spec.volumes ?? []).some((v: Any) => v.hostPath), `${where}: hostPath volume`);
        for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
          const cw = `${where} container ${c.name}`;
          const sc = c.securityContext ?? {};
          assert.equal(sc.allowPrivilegeEscalation, false, `${cw}: allowPrivilegeEscalation`);
          assert.equal(sc.readOnlyRootFilesystem, true, `${cw}: readOnlyRootFilesystem`);
          assert.equal(sc.runAsNonRoot ?? spec.securityContext.runAsNonRoot, true, `${cw}: runAsNonRoot`);
          assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${cw}: capabilities.drop`);
          assert.equal(sc.capabilities?.add, undefined, `${cw}: capabilities.add`);
          assert.equal(sc.privileged ?? false, false, `${cw}: privileged`);
          assert.equal((sc.seccompProfile ?? spec.securityContext.seccompProfile).type, 'RuntimeDefault', cw);
          for (const kind of ['requests', 'limits']) {
            assert.ok(c.resources?.[kind]?.cpu, `${cw}: resources.${kind}.cpu`);
            assert.ok(c.resources?.[kind]?.memory, `${cw}: resources.${kind}.memory`);
          }
          if (!hook) {
            assert.ok(c.readinessProbe, `${cw}: readinessProbe`);
            assert.ok(c.livenessProbe, `${cw}: livenessProbe`);
          }
          assert.match(
            c.image,
            /^[^\s]+:[A-Za-z0-9_][A-Za-z0-9_.-]*$|@sha256:[0-9a-f]{64}$/,
            `${cw}: image pinned`,
          );
          assert.doesNotMatch(c.image, /:latest$/, `${cw}: no latest`);
          assert.notEqual(c.imagePullPolicy, 'Always', `${cw}: pinned images need no Always pull`);
        }
      }
    });

    void it('service Deployments: probes, ports, labels, spread, env per docs/architecture.md', () => {
      for (const svc of SERVICES) {
        const tracks = values.services[svc].canary.enabled ? ['stable', 'canary'] : ['stable'];
        const rendered = objectsOf<Any>(objects, 'Deployment').filter((d) => d.metadata.labels.app === svc);
        assert.deepEqual(
          rendered.map((d) => d.spec.template.metadata.labels.track).sort(),
          [...tracks].sort(),
          svc,
        );
        for (const d of rendered) {
          const where = `Deployment/${d.metadata.name}`;
          const labels = d.spec.template.metadata.labels;
          for (const l of [
            'app.kubernetes.io/name',
            'app.kubernetes.io/instance',
            'app.kubernetes.io/version',
            'app',
            'version',
          ]) {
            assert.ok(labels[l], `${where}: label ${l}`);
          }
          assert.equal(labels.app, svc);
          const c = d.spec.template.spec.containers[0];
          if (svc === 'gateway') {
            assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' }, where);
            assert.deepEqual(
              c.ports.map((p: Any) => [p.name, p.containerPort]),
              [['http', 8080]],
              where,
            );
          } else {
            assert.deepEqual(c.readinessProbe.grpc, { port: 50051 }, `${where}: gRPC health readiness`);
            assert.deepEqual(
              c.ports.map((p: Any) => [p.name, p.containerPort]),
              [
                ['grpc', 50051],
                ['http', 8080],
              ],
              where,
            );
          }
          assert.deepEqual(c.livenessProbe.httpGet, { path: '/livez', port: 'http' }, where);
          const spread = d.spec.template.spec.topologySpreadConstraints ?? [];
          assert.ok(
            spread.some((t: Any) => t.topologyKey === 'kubernetes.io/hostname'),
            `${where}: topology spread`,
          );
          assert.equal(d.spec.template.spec.serviceAccountName, svc, where);

          const cm = byName(objects, 'ConfigMap', c.envFrom[0].configMapRef.name);
          assert.ok(cm, `${where}: ConfigMap`);
          const env: Record<string, string> = { ...cm.data };
          assert.equal(env.BIND_HOST, '0.0.0.0');
          assert.equal(env.HTTP_PORT, '8080');
          assert.equal(env.GRPC_PORT, svc === 'gateway' ? undefined : '50051');
          const expectedAddrs = ARCHITECTURE_CALL_GRAPH.filter((e) => e.from === svc && e.port === 'grpc')
            .map((e) => `${e.to.toUpperCase()}_ADDR=${e.to}:50051`)
            .sort();
          const addrs = Object.entries(env)
            .filter(([k]) => k.endsWith('_ADDR'))
            .map(([k, v]) => `${k}=${v}`)
            .sort();
          assert.deepEqual(addrs, expectedAddrs, `${where}: upstream addresses`);
          const dbEnv = c.env.find((e: Any) => e.name === 'DATABASE_URL');
          if (svc === 'gateway') {
            assert.equal(dbEnv, undefined);
            assert.equal(env.KAFKA_BROKERS, undefined);
          } else {
            const ref = dbEnv?.valueFrom?.secretKeyRef;
            assert.equal(ref?.key, 'DATABASE_URL', `${where}: DATABASE_URL from a Secret`);
            const expectedSecret = values.services[svc].database.existingSecret || `${svc}-database`;
            assert.equal(ref.name, expectedSecret);
            if (values.postgresql.enabled) {
              const secret = byName(objects, 'Secret', ref.name);
              assert.ok(secret, `${where}: Secret ${ref.name} rendered`);
              const url = new URL(secret.stringData.DATABASE_URL as string);
              assert.equal(url.username, svc, 'own role');
              assert.equal(url.pathname, `/${svc}`, 'own database');
              assert.equal(url.host, `postgresql.${namespace}.svc.cluster.local:5432`);
            }
            const brokers = values.kafka.enabled
              ? `kafka.${namespace}.svc.cluster.local:9092`
              : values.externalKafka.brokers;
            assert.equal(env.KAFKA_BROKERS, brokers, `${where}: KAFKA_BROKERS`);
          }
          if (values.telemetry.otlpEndpoint)
            assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, values.telemetry.otlpEndpoint);
        }
      }
    });

    void it('database Secrets: one per service, distinct passwords', () => {
      const secrets = objectsOf<Any>(objects, 'Secret').filter((s) => s.metadata.name.endsWith('-database'));
      if (!values.postgresql.enabled) {
        assert.deepEqual(secrets, []);
        assert.equal(byName(objects, 'StatefulSet', 'postgresql'), undefined);
        return;
      }
      assert.deepEqual(
        secrets.map((s) => s.metadata.name).sort(),
        GRPC_SERVICES.map((s) => `${s}-database`).sort(),
      );
      assert.equal(new Set(secrets.map((s) => s.stringData.password)).size, secrets.length);
    });

    void it('Services name their ports grpc 50051 and http 8080 (gateway: http only)', () => {
      for (const svc of SERVICES) {
        const s = byName(objects, 'Service', svc);
        assert.ok(s, `Service ${svc}`);
        const expected =
          svc === 'gateway'
            ? [['http', 8080]]
            : [
                ['grpc', 50051],
                ['http', 8080],
              ];
        assert.deepEqual(
          s.spec.ports.map((p: Any) => [p.name, p.port]),
          expected,
          svc,
        );
        assert.equal(s.spec.selector.track, undefined, `${svc}: Service selects both tracks`);
      }
    });

    void it('HPA autoscaling/v2 CPU 50% (payments 60%), 2 to 10 replicas; PDB per service', () => {
      for (const svc of SERVICES) {
        const hpa = byName(objects, 'HorizontalPodAutoscaler', svc);
        assert.equal(hpa.apiVersion, 'autoscaling/v2');
        assert.equal(hpa.spec.minReplicas, 2);
        assert.equal(hpa.spec.maxReplicas, 10);
        assert.deepEqual(hpa.spec.metrics, [
          {
            type: 'Resource',
            resource: {
              name: 'cpu',
              target: { type: 'Utilization', averageUtilization: svc === 'payments' ? 60 : 50 },
            },
          },
        ]);
        const target = byName(objects, 'Deployment', hpa.spec.scaleTargetRef.name);
        assert.ok(target, `${svc}: HPA target exists`);
        assert.equal(target.spec.replicas, undefined, `${svc}: replicas left to the HPA`);
        const pdb = byName(objects, 'PodDisruptionBudget', svc);
        const labels = target.spec.template.metadata.labels;
        for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels))
          assert.equal(labels[k], v, `${svc}: PDB selects`);
      }
    });

    void it('StatefulSets for PostgreSQL and Kafka have persistent volumes when enabled', () => {
      for (const infra of ['postgresql', 'kafka']) {
        const sts = byName(objects, 'StatefulSet', infra);
        if (!inCluster(infra)) {
          assert.equal(sts, undefined);
          continue;
        }
        assert.ok(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, infra);
        if (infra === 'kafka')
          assert.match(sts.spec.template.spec.containers[0].image, /^apache\/kafka:3\.9\.1$/);
      }
    });

    void it('every object carries the app.kubernetes.io labels', () => {
      for (const o of objects) {
        const l = o.metadata.labels ?? {};
        for (const k of [
          'app.kubernetes.io/instance',
          'app.kubernetes.io/part-of',
          'app.kubernetes.io/managed-by',
        ]) {
          assert.ok(l[k], `${o.kind}/${o.metadata.name}: ${k}`);
        }
      }
    });

    const istio = objects.filter((o) => o.apiVersion.includes('istio.io'));
    if (!mesh) {
      void it('mesh disabled: no Istio object at all', () => {
        assert.deepEqual(
          istio.map((o) => `${o.kind}/${o.metadata.name}`),
          [],
        );
        // Explicitly "false": a namespace labelled istio-injection=enabled must not inject half a mesh.
        for (const { pod } of workloads(objects)) {
          assert.equal(pod.metadata.labels?.['sidecar.istio.io/inject'], 'false');
        }
      });
    } else {
      void it('Istio objects use the current API versions', () => {
        for (const o of istio) {
          assert.ok(
            ['security.istio.io/v1', 'networking.istio.io/v1'].includes(o.apiVersion),
            `${o.kind} ${o.apiVersion}`,
          );
        }
      });

      void it('namespace-wide STRICT mTLS and no weaker PeerAuthentication', () => {
        const pas = objectsOf<Any>(objects, 'PeerAuthentication');
        assert.equal(pas.length, 1);
        assert.equal(pas[0].spec.selector, undefined, 'namespace-wide');
        assert.equal(pas[0].spec.mtls.mode, 'STRICT');
        assert.equal(pas[0].spec.portLevelMtls, undefined);
      });

      void it('every Service has its DestinationRule (ISTIO_MUTUAL) and VirtualService', () => {
        for (const s of objectsOf<Any>(objects, 'Service')) {
          const host = `${s.metadata.name}.${namespace}.svc.cluster.local`;
          const drs = objectsOf<Any>(objects, 'DestinationRule').filter((d) => d.spec.host === host);
          const vss = objectsOf<Any>(objects, 'VirtualService').filter((v) => v.spec.hosts.includes(host));
          assert.equal(drs.length, 1, `${host}: one DestinationRule`);
          assert.equal(vss.length, 1, `${host}: one VirtualService`);
          assert.equal(drs[0].spec.trafficPolicy.tls.mode, 'ISTIO_MUTUAL', host);
          assert.ok(
            drs[0].spec.trafficPolicy.connectionPool?.tcp?.maxConnections,
            `${host}: connection pool`,
          );
          if (SERVICES.includes(s.metadata.name)) {
            assert.ok(drs[0].spec.trafficPolicy.outlierDetection, `${host}: outlier detection`);
            assert.deepEqual(
              drs[0].spec.subsets.map((x: Any) => [x.name, x.labels.track]),
              [
                ['stable', 'stable'],
                ['canary', 'canary'],
              ],
            );
          }
        }
      });

      void it('every route: subset exists, weights add up to 100, timeout and retries, canary as configured', () => {
        const drByHost = new Map(objectsOf<Any>(objects, 'DestinationRule').map((d) => [d.spec.host, d]));
        for (const vs of objectsOf<Any>(objects, 'VirtualService')) {
          for (const r of [...(vs.spec.http ?? []), ...(vs.spec.tcp ?? [])]) {
            const where = `VirtualService/${vs.metadata.name} route ${r.name ?? ''}`;
            const total = r.route.reduce((n: number, d: Any) => n + (d.weight ?? 0), 0);
            assert.equal(total, 100, `${where}: weights add up to 100`);
            for (const d of r.route) {
              const dr = drByHost.get(d.destination.host);
              assert.ok(dr, `${where}: DestinationRule for ${d.destination.host}`);
              if (d.destination.subset) {
                assert.ok(
                  dr.spec.subsets?.some((s: Any) => s.name === d.destination.subset),
                  `${where}: subset ${d.destination.subset} exists`,
                );
              }
            }
          }
          for (const r of vs.spec.http ?? []) {
            assert.ok(r.timeout, `${vs.metadata.name}: timeout`);
            assert.ok(
              r.retries.attempts === 0 ||
                (r.retries.attempts > 0 && r.retries.perTryTimeout && r.retries.retryOn),
              `${vs.metadata.name}: retries`,
            );
          }
        }
        for (const svc of SERVICES) {
          const canary = values.services[svc].canary;
          const host = `${svc}.${namespace}.svc.cluster.local`;
          const vss = objectsOf<Any>(objects, 'VirtualService').filter((v) =>
            (v.spec.http ?? []).some((r: Any) => r.route.some((d: Any) => d.destination.host === host)),
          );
          assert.equal(vss.length, svc === 'gateway' ? 2 : 1, `${svc}: mesh and edge VirtualServices`);
          for (const vs of vss) {
            const weighted = vs.spec.http.find((r: Any) => r.name === 'weighted');
            const canaryWeight =
              weighted.route.find((d: Any) => d.destination.subset === 'canary')?.weight ?? 0;
            assert.equal(
              canaryWeight,
              canary.enabled ? canary.weight : 0,
              `${vs.metadata.name}: canary weight`,
            );
            const header = vs.spec.http.find((r: Any) => r.match?.some((m: Any) => m.headers?.['x-canary']));
            if (canary.enabled) {
              assert.deepEqual(header.match[0].headers['x-canary'], { exact: 'true' });
              assert.equal(header.route[0].destination.subset, 'canary');
              assert.equal(vs.spec.http.indexOf(header), 0, 'header route first');
            } else {
              assert.equal(header, undefined, `${vs.metadata.name}: no header route without a canary`);
            }
          }
        }
      });

      void it('edge: ingress Gateway and its VirtualService, JWT validation when enabled', () => {
        const gw = objectsOf<Any>(objects, 'Gateway');
        assert.equal(gw.length, 1);
        const edge = objectsOf<Any>(objects, 'VirtualService').find((v) =>
          v.spec.gateways?.includes(gw[0].metadata.name),
        );
        assert.ok(edge, 'edge VirtualService bound to the Gateway');
        // What the ingress gateway routes: the first http route with a matching `match` entry (no `match`: all).
        const routed = (path: string, headers: Record<string, string> = {}): boolean =>
          (edge.spec.http as Any[]).some(
            (r) =>
              !r.match ||
              (r.match as Any[]).some((m) => {
                const uri = m.uri;
                const uriOk =
                  !uri ||
                  (uri.exact !== undefined && uri.exact === path) ||
                  (uri.prefix !== undefined && path.startsWith(uri.prefix));
                const headersOk = Object.entries((m.headers ?? {}) as Record<string, Any>).every(
                  ([name, want]) => headers[name] === want.exact,
                );
                return uriOk && headersOk;
              }),
          );
        const canary = { [values.mesh.canaryHeader.name]: values.mesh.canaryHeader.value };
        // The API, its document and the web console (its page, files, sign-in callback and /docs).
        for (const path of [
          '/v1/products',
          '/v1/orders/x/cancel',
          '/openapi.yaml',
          '/',
          '/console/app.js',
          '/auth/callback',
          '/docs',
          '/docs/swagger-ui.css',
        ]) {
          assert.ok(routed(path), `${path} is public`);
          assert.ok(routed(path, canary), `${path} is public with the canary header`);
        }
        for (const path of ['/metrics', '/readyz', '/livez', '/v1', '/openapi.yaml.bak', '/console', '/x']) {
          assert.ok(!routed(path), `${path} is not routed from the ingress`);
          assert.ok(!routed(path, canary), `${path} is not routed from the ingress with the canary header`);
        }
        const ra = objectsOf<Any>(objects, 'RequestAuthentication');
        if (values.auth.mode === 'oidc') {
          assert.equal(ra.length, 1);
          assert.equal(ra[0].spec.selector.matchLabels.app, 'gateway');
          assert.equal(ra[0].spec.jwtRules[0].issuer, values.auth.oidc.issuer);
          assert.equal(ra[0].spec.jwtRules[0].jwksUri, values.auth.oidc.jwksUri || undefined);
        } else {
          assert.equal(ra.length, 0);
        }
      });

      void it('AuthorizationPolicies: deny by default, allow exactly the call graph by principal and port', () => {
        const aps = objectsOf<Any>(objects, 'AuthorizationPolicy');
        const denyAll = aps.filter(
          (a) => !a.spec.selector && !a.spec.rules && (a.spec.action ?? 'ALLOW') === 'ALLOW',
        );
        assert.equal(denyAll.length, 1, 'one namespace-wide policy without rules (denies everything else)');
        // The one DENY policy: a request to the API without a verified token (auth.test.ts checks it).
        const denies = aps.filter((a) => a.spec.action === 'DENY');
        assert.deepEqual(
          denies.map((a) => a.metadata.name),
          values.auth.mode === 'oidc' ? ['gateway-require-token'] : [],
        );
        const actual: string[] = [];
        for (const a of aps.filter((x) => !denyAll.includes(x) && !denies.includes(x))) {
          assert.equal(a.spec.action, 'ALLOW', `${a.metadata.name}: only ALLOW policies`);
          const target = a.spec.selector?.matchLabels?.app;
          assert.ok(target, `${a.metadata.name}: selects one app`);
          for (const r of a.spec.rules) {
            assert.equal(r.when, undefined);
            assert.equal(r.from.length, 1);
            const principals: string[] = r.from[0].source.principals;
            const ports: string[] = r.to.flatMap((t: Any) => t.operation.ports);
            assert.ok(
              principals?.length && ports?.length,
              `${a.metadata.name}: principals and ports on every rule`,
            );
            for (const p of principals) {
              assert.doesNotMatch(p, /\*/, 'no wildcard principal');
              for (const port of ports) actual.push(`${p} -> ${target}:${port}`);
            }
          }
        }
        const sa = (n: string): string =>
          n === 'ingress'
            ? `cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account`
            : `cluster.local/ns/${namespace}/sa/${n === 'helm-test' ? `${release}-helm-test` : n}`;
        const expected = ARCHITECTURE_CALL_GRAPH.filter((e) => inCluster(e.to)).map(
          (e) => `${sa(e.from)} -> ${e.to}:${PORTS[e.port]}`,
        );
        assert.deepEqual(actual.sort(), expected.sort());
        for (const s of SERVICES) {
          const sa = byName(objects, 'ServiceAccount', s);
          assert.ok(sa, `ServiceAccount ${s}`);
        }
      });
    }

    void it('NetworkPolicies: default deny, allow exactly the call graph plus DNS, istiod and observability', () => {
      const nps = objectsOf<Any>(objects, 'NetworkPolicy');
      const deny = nps.filter(
        (n) => Object.keys(n.spec.podSelector).length === 0 && !n.spec.ingress && !n.spec.egress,
      );
      assert.equal(deny.length, 1);
      assert.deepEqual([...deny[0].spec.policyTypes].sort(), ['Egress', 'Ingress']);
      const ingressEdges: string[] = [];
      const egressEdges: string[] = [];
      const infra: string[] = [];
      const appOf = (sel: Any): string => sel?.matchLabels?.app as string;
      for (const np of nps) {
        for (const rule of np.spec.ingress ?? []) {
          const ports = rule.ports.map((p: Any) => p.port);
          for (const peer of rule.from) {
            const to = appOf(np.spec.podSelector);
            if (peer.podSelector && !peer.namespaceSelector) {
              for (const port of ports)
                ingressEdges.push(edgeKey({ from: appOf(peer.podSelector), to, port }));
            } else if (
              peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'istio-system'
            ) {
              assert.deepEqual(peer.podSelector.matchLabels, { istio: 'ingressgateway' });
              for (const port of ports) ingressEdges.push(edgeKey({ from: 'ingress', to, port }));
            } else {
              infra.push(
                `in ${peer.namespaceSelector.matchLabels['kubernetes.io/metadata.name']}:${ports.join(',')}`,
              );
            }
          }
        }
        for (const rule of np.spec.egress ?? []) {
          const ports = rule.ports.map((p: Any) => p.port);
          for (const peer of rule.to) {
            const from = appOf(np.spec.podSelector);
            if (peer.podSelector && !peer.namespaceSelector) {
              for (const port of ports)
                egressEdges.push(edgeKey({ from, to: appOf(peer.podSelector), port }));
            } else if (peer.ipBlock) {
              for (const port of ports) egressEdges.push(edgeKey({ from, to: `external`, port }));
            } else {
              const nsName = peer.namespaceSelector.matchLabels['kubernetes.io/metadata.name'];
              infra.push(
                `out ${nsName}${peer.podSelector ? '/' + JSON.stringify(peer.podSelector.matchLabels) : ''}:${ports.join(',')}`,
              );
            }
          }
        }
      }
      const graph = ARCHITECTURE_CALL_GRAPH;
      assert.deepEqual(
        ingressEdges.sort(),
        graph
          .filter((e) => inCluster(e.to))
          .map((e) => edgeKey({ ...e, port: PORTS[e.port]! }))
          .sort(),
        'ingress rules',
      );
      // With auth.mode oidc, the callers that verify tokens (and the test hook, which signs in) reach the issuer.
      const issuerUrl = new URL(values.auth.oidc.issuer as string);
      const issuerPort = Number(issuerUrl.port || (issuerUrl.protocol === 'https:' ? 443 : 80));
      const issuerEgress: { cidr: string; port?: number }[] = values.auth.oidc.egress.length
        ? values.auth.oidc.egress
        : [{ cidr: '0.0.0.0/0' }];
      const toIssuer =
        values.auth.mode === 'oidc'
          ? ['gateway', 'orders', 'payments', 'helm-test'].flatMap((from) =>
              issuerEgress.map((e) => edgeKey({ from, to: 'external', port: e.port ?? issuerPort })),
            )
          : [];
      assert.deepEqual(
        egressEdges.sort(),
        [
          ...graph
            .filter((e) => e.from !== 'ingress')
            .map((e) =>
              edgeKey({ from: e.from, to: inCluster(e.to) ? e.to : 'external', port: PORTS[e.port]! }),
            ),
          ...toIssuer,
        ].sort(),
        'egress rules',
      );
      const expectedInfra = [
        'out kube-system/{"k8s-app":"kube-dns"}:53,53',
        ...(mesh ? ['out istio-system/{"app":"istiod"}:15012'] : []),
        `in monitoring:${mesh ? '8080,15020' : '8080'}`,
        'out observability:4317,4318',
      ];
      assert.deepEqual(
        infra.sort(),
        expectedInfra.sort(),
        'only DNS, istiod and observability besides the call graph',
      );
    });
  });
}
