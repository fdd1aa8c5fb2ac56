// The cluster labs added for issue 10 (k8s/labs: istiod-outage, call-graph-edge, pvc-retention, mesh-retry-storm,
// mesh-canary-rollback, mesh-latency, autoscaling, multi-cluster) against recording stubs of kubectl, helm, istioctl,
// kind, docker and curl: the three runs of cluster-lab-harness.ts each. Not a run on a real cluster (none here).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LabCase } from './cluster-lab-harness';
import { CONTEXT, describeLab, promAnswer, promValue } from './cluster-lab-harness';
import { repoRoot } from './support';

const endpoints = (...ips: string[]) =>
  JSON.stringify([
    {
      name: 'outbound|50051|stable|inventory.shop.svc.cluster.local',
      hostStatuses: ips.map((address) => ({
        address: { socketAddress: { address, portValue: 50051 } },
        healthStatus: { edsHealthStatus: 'HEALTHY' },
      })),
    },
  ]);
const clusters = (n: number) =>
  JSON.stringify(
    Array.from({ length: n }, (_, i) => ({ name: `outbound|80||svc-${i}.ns.svc.cluster.local` })),
  );
const callGraph = [
  { from: 'ingress', to: 'gateway', port: 'http' },
  { from: 'gateway', to: 'orders', port: 'grpc' },
  { from: 'gateway', to: 'inventory', port: 'grpc' },
  { from: 'orders', to: 'inventory', port: 'grpc' },
];
const policy = (...callers: string[]) =>
  JSON.stringify({
    spec: {
      rules: callers.map((c) => ({ from: [{ source: { principals: [`cluster.local/ns/shop/sa/${c}`] } }] })),
    },
  });
const autocannon = (avg: number, p99: number, non2xx = 0) =>
  JSON.stringify({
    requests: { average: avg, total: avg * 90 },
    latency: { p99 },
    non2xx,
    errors: 0,
    timeouts: 0,
  });

const cases = (): LabCase[] => {
  const overlayDir = mkdtempSync(join(tmpdir(), 'shop-overlay-'));
  const overlay = join(overlayDir, 'retry-storm.yaml');
  writeFileSync(overlay, 'services:\n  inventory:\n    route:\n      retries: { attempts: 5 }\n');
  return [
    {
      id: 'istiod-outage',
      rules: [
        CONTEXT,
        { tool: 'kubectl', has: ['-n istio-system get deployment istiod', '{.spec.replicas}'], stdout: '1' },
        { tool: 'kubectl', has: ['scale deployment istiod --replicas=0'], set: { istiod: 'down' } },
        { tool: 'kubectl', has: ['scale deployment istiod --replicas='], set: { istiod: 'up' } },
        {
          tool: 'kubectl',
          has: ['get deployment istiod', '{.status.readyReplicas}'],
          when: { istiod: 'down' },
          stdout: '',
        },
        { tool: 'kubectl', has: ['get deployment istiod', '{.status.readyReplicas}'], stdout: '2' },
        {
          tool: 'kubectl',
          has: ['get pods -l app=inventory,track=stable', '{.items[0].metadata.name}'],
          stdout: 'inventory-stable-5f-a',
        },
        { tool: 'kubectl', has: ['delete pod inventory-stable-5f-a --wait=true'] },
        {
          tool: 'kubectl',
          has: ['get pods -l app=inventory,track=stable', '@.status.podIP'],
          when: { istiod: 'down' },
          stdout: '10.244.1.8 True\n10.244.2.4 False\n',
        },
        {
          tool: 'kubectl',
          has: ['get pods -l app=inventory,track=stable', '@.status.podIP'],
          stdout: '10.244.1.8 True\n10.244.2.4 True\n',
        },
        {
          tool: 'kubectl',
          has: ['get deployment inventory-stable', '{.status.readyReplicas}/{.spec.replicas}'],
          when: { istiod: 'down' },
          stdout: '1/2',
        },
        {
          tool: 'kubectl',
          has: ['get deployment inventory-stable', '{.status.readyReplicas}/{.spec.replicas}'],
          stdout: '2/2',
        },
        {
          tool: 'istioctl',
          has: ['proxy-config endpoint deploy/gateway-stable', 'outbound|50051|stable|inventory', '-o json'],
          when: { istiod: 'down' },
          stdout: endpoints('10.244.1.7', '10.244.1.8'),
        },
        {
          tool: 'istioctl',
          has: ['proxy-config endpoint deploy/gateway-stable'],
          stdout: endpoints('10.244.1.8', '10.244.2.4'),
        },
        { tool: 'kubectl', has: ['rollout status deployment/istiod'] },
        { tool: 'kubectl', has: ['rollout status deployment/inventory-stable'] },
        { tool: 'curl', has: ['/v1/products'], stdout: '200 0.02' },
      ],
      state: { istiod: 'up' },
      restored: { istiod: 'up' },
      order: [
        ['kubectl', ['-n istio-system scale deployment istiod --replicas=0']],
        ['kubectl', ['delete pod inventory-stable-5f-a']],
        ['istioctl', ['proxy-config endpoint deploy/gateway-stable']],
        ['kubectl', ['scale deployment istiod --replicas=2']],
        ['kubectl', ['rollout status deployment/istiod']],
        ['istioctl', ['proxy-config endpoint deploy/gateway-stable']],
        ['curl', ['/v1/products']],
        ['kubectl', ['scale deployment istiod --replicas=2']],
      ],
      brokenAfterFix: [
        {
          tool: 'istioctl',
          has: ['proxy-config endpoint'],
          when: { istiod: 'up' },
          stdout: endpoints('10.244.1.7', '10.244.1.8', '10.244.2.4'),
        },
      ],
      extra: (r) => assert.match(r.stdout, /no ready pod +>= 1 \(stale endpoints\) +1 \(10\.244\.1\.7\)/),
    },
    {
      id: 'call-graph-edge',
      rules: [
        CONTEXT,
        {
          tool: 'helm',
          has: ['get values shop -n shop -a -o json'],
          stdout: JSON.stringify({ auth: { mode: 'open' }, callGraph }),
        },
        {
          tool: 'helm',
          has: [
            'upgrade shop',
            '--reuse-values',
            'callGraph=[',
            '{"from":"gateway","to":"inventory","port":"grpc"}',
          ],
          set: { edge: 'on' },
        },
        { tool: 'helm', has: ['upgrade shop', '--reuse-values', 'callGraph=['], set: { edge: 'off' } },
        {
          tool: 'kubectl',
          has: ['get --raw', 'response_code%3D%22403%22'],
          when: { edge: 'off' },
          counter: { key: 'denied', step: 20 },
          stdout: promAnswer('denied'),
        },
        { tool: 'kubectl', has: ['get --raw', 'response_code%3D%22403%22'], stdout: promAnswer('denied') },
        {
          tool: 'kubectl',
          has: ['get authorizationpolicy allow-to-inventory -o json'],
          when: { edge: 'off' },
          stdout: policy('orders'),
        },
        {
          tool: 'kubectl',
          has: ['get authorizationpolicy allow-to-inventory -o json'],
          stdout: policy('gateway', 'orders'),
        },
        { tool: 'curl', has: ['/v1/products'], when: { edge: 'off' }, stdout: '503 0.01' },
        { tool: 'curl', has: ['/v1/products'], stdout: '200 0.02' },
      ],
      state: { edge: 'on', denied: '0' },
      restored: { edge: 'on' },
      order: [
        ['helm', ['get values shop']],
        [
          'helm',
          [
            'upgrade shop',
            'callGraph=[{"from":"ingress","to":"gateway","port":"http"},{"from":"gateway","to":"orders"',
          ],
        ],
        ['kubectl', ['get --raw', '403']],
        ['curl', ['/v1/products']],
        ['kubectl', ['get authorizationpolicy allow-to-inventory']],
        ['helm', ['upgrade shop', '{"from":"gateway","to":"inventory"']],
        ['curl', ['/v1/products']],
        ['helm', ['upgrade shop', '{"from":"gateway","to":"inventory"']],
      ],
      brokenAfterFix: [
        {
          tool: 'kubectl',
          has: ['get authorizationpolicy allow-to-inventory'],
          when: { edge: 'on' },
          stdout: policy('orders'),
        },
      ],
      extra: (r) => {
        const broken = r.calls.find((c) => c.tool === 'helm' && c.args.join(' ').includes('callGraph=['));
        assert.ok(broken);
        const graph = JSON.parse(
          broken.args.find((a) => a.startsWith('callGraph='))!.slice(10),
        ) as typeof callGraph;
        assert.deepEqual(
          graph,
          callGraph.filter((e) => !(e.from === 'gateway' && e.to === 'inventory')),
        );
      },
    },
    {
      id: 'pvc-retention',
      rules: [
        CONTEXT,
        { tool: 'helm', has: ['get values shop -n shop -o yaml'], stdout: 'auth:\n  mode: open\n' },
        {
          tool: 'curl',
          has: ['-X POST', '/v1/orders'],
          counter: { key: 'n', step: 1 },
          body: '{"id":"ord-{{n}}","status":"PENDING"}',
          stdout: '201 0.05',
        },
        { tool: 'curl', has: ['GET', '/v1/orders/ord-'], when: { data: 'lost' }, stdout: '404 0.01' },
        { tool: 'curl', has: ['GET', '/v1/orders/ord-'], stdout: '200 0.01' },
        {
          tool: 'kubectl',
          has: ['exec postgresql-0 -c postgresql -- pg_dump -U postgres -Fc'],
          stdout: 'PGDMP',
        },
        {
          tool: 'kubectl',
          has: ['get pvc data-postgresql-0', '{.metadata.uid}'],
          when: { pvc: 'gone' },
          exit: 1,
          stderr: 'Error from server (NotFound): persistentvolumeclaims "data-postgresql-0" not found\n',
        },
        {
          tool: 'kubectl',
          has: ['get pvc data-postgresql-0', '{.metadata.uid}'],
          stdout: 'uid-{{pvc}}-0123456789',
        },
        // Helm recreates the StatefulSet; its controller makes a claim when there is none.
        {
          tool: 'helm',
          has: ['upgrade shop', 'postgresql.persistentVolumeClaimRetentionPolicy.whenDeleted='],
          when: { pvc: 'gone' },
          set: { pvc: 'new' },
        },
        {
          tool: 'helm',
          has: ['upgrade shop', 'postgresql.persistentVolumeClaimRetentionPolicy.whenDeleted=Delete'],
          set: { sts: 'Delete' },
        },
        {
          tool: 'helm',
          has: ['upgrade shop', 'postgresql.persistentVolumeClaimRetentionPolicy.whenDeleted=Retain'],
          set: { sts: 'Retain' },
        },
        { tool: 'helm', has: ['upgrade shop', 'values-before.yaml'], set: { sts: 'Retain' } },
        {
          tool: 'kubectl',
          has: ['delete statefulset postgresql --wait=true'],
          when: { sts: 'Delete' },
          set: { pvc: 'gone', data: 'lost' },
        },
        { tool: 'kubectl', has: ['delete statefulset postgresql --wait=true'] },
        { tool: 'kubectl', has: ['wait --for=delete pod/postgresql-0'] },
        { tool: 'kubectl', has: ['wait --for=condition=Ready pod/postgresql-0'] },
        {
          tool: 'kubectl',
          has: ['get statefulset postgresql', 'persistentVolumeClaimRetentionPolicy.whenDeleted'],
          stdout: '{{sts}}',
        },
        { tool: 'kubectl', has: ['rollout restart deployment/'] },
        { tool: 'kubectl', has: ['rollout status deployment/'] },
        {
          tool: 'kubectl',
          has: ['exec -i postgresql-0 -c postgresql -- pg_restore -U postgres -d', '--clean'],
          set: { data: 'restored' },
        },
      ],
      state: { data: 'intact', pvc: 'old', sts: 'Retain' },
      // Every order placed is looked up in observe and twice in verify (a stub that read the loop's stdin would not).
      extra: (r) =>
        assert.equal(
          r.calls.filter((c) => c.tool === 'curl' && c.args.join(' ').includes('/v1/orders/ord-')).length,
          18,
        ),
      restored: { sts: 'Retain', data: 'restored' },
      order: [
        ['curl', ['-X POST', '/v1/orders']],
        ['kubectl', ['pg_dump -U postgres -Fc payments']],
        ['helm', ['upgrade shop', 'whenDeleted=Delete']],
        ['kubectl', ['delete statefulset postgresql']],
        ['helm', ['upgrade shop', 'whenDeleted=Delete']],
        ['kubectl', ['rollout restart deployment/orders-stable']],
        ['curl', ['/v1/orders/ord-1']],
        ['kubectl', ['pg_restore', '-d orders']],
        ['helm', ['upgrade shop', 'whenDeleted=Retain']],
        ['kubectl', ['delete statefulset postgresql']],
        ['helm', ['upgrade shop', 'whenDeleted=Retain']],
        ['curl', ['/v1/orders/ord-1']],
        ['helm', ['upgrade shop', 'values-before.yaml']],
      ],
      brokenAfterFix: [
        {
          tool: 'kubectl',
          has: ['delete statefulset postgresql --wait=true'],
          when: { sts: 'Retain' },
          set: { pvc: 'gone', data: 'lost' },
        },
      ],
    },
    {
      id: 'mesh-retry-storm',
      env: { STORM_OVERLAY: overlay },
      rules: [
        CONTEXT,
        { tool: 'helm', has: ['get values shop -n shop -o yaml'], stdout: 'auth:\n  mode: open\n' },
        {
          tool: 'helm',
          has: [
            'upgrade shop',
            'values-before.yaml',
            `-f ${overlay}`,
            'services.inventory.faults={"grpc-server-error"',
          ],
          set: { storm: 'on', budget: '' },
        },
        {
          tool: 'helm',
          has: [
            'upgrade shop',
            'values-before.yaml',
            'mesh.retryBudget.enabled=true',
            'services.inventory.faults=',
          ],
          set: { storm: 'off', budget: '20' },
        },
        { tool: 'helm', has: ['upgrade shop', 'values-before.yaml'], set: { storm: 'off', budget: '' } },
        {
          tool: 'kubectl',
          has: ['get --raw', 'destination_service_name%3D%22inventory%22'],
          when: { storm: 'on' },
          counter: { key: 'calls', step: 120 },
          stdout: promAnswer('calls'),
        },
        {
          tool: 'kubectl',
          has: ['get --raw', 'destination_service_name%3D%22inventory%22'],
          counter: { key: 'calls', step: 40 },
          stdout: promAnswer('calls'),
        },
        {
          tool: 'kubectl',
          has: ['get destinationrule inventory', 'retryBudget.percent'],
          stdout: '{{budget}}',
        },
        { tool: 'curl', has: ['/v1/products'], when: { storm: 'on' }, stdoutSeq: ['200 0.31', '503 0.42'] },
        { tool: 'curl', has: ['/v1/products'], stdoutSeq: ['200 0.02', '503 0.01'] },
      ],
      state: { storm: 'off', calls: '1000', budget: '' },
      restored: { storm: 'off', budget: '' },
      order: [
        ['helm', ['get values shop']],
        ['helm', ['upgrade shop', '-f', 'retry-storm.yaml', '--wait']],
        ['kubectl', ['get --raw']],
        ['curl', ['/v1/products']],
        ['helm', ['upgrade shop', 'mesh.retryBudget.enabled=true']],
        ['kubectl', ['get destinationrule inventory']],
        ['helm', ['upgrade shop', 'values-before.yaml']],
      ],
      brokenAfterFix: [
        {
          tool: 'kubectl',
          has: ['get --raw'],
          when: { storm: 'off' },
          counter: { key: 'calls', step: 100 },
          stdout: promAnswer('calls'),
        },
      ],
      extra: (r) => {
        const reset = r.calls.filter((c) => c.tool === 'helm' && c.args[0] === 'upgrade').at(-1);
        assert.ok(
          reset && !reset.args.join(' ').includes('retry-storm.yaml'),
          'reset leaves the overlay out',
        );
      },
    },
    {
      id: 'mesh-canary-rollback',
      rules: [
        CONTEXT,
        {
          tool: 'helm',
          has: [
            'upgrade shop',
            'services.inventory.canary.enabled=true',
            'services.inventory.canary.weight=25',
            'services.inventory.canary.faults={"grpc-server-error":{"method":"ListProducts","code":"UNAVAILABLE"}}',
          ],
          set: { canary: 'on' },
        },
        {
          tool: 'helm',
          has: ['upgrade shop', 'services.inventory.canary.enabled=false'],
          set: { canary: 'off' },
        },
        { tool: 'kubectl', has: ['rollout status deployment/inventory-canary'] },
        {
          tool: 'kubectl',
          has: ['get --raw', 'grpc_response_status'],
          when: { canary: 'on' },
          counter: { key: 'err', step: 10 },
          stdout: promAnswer('err'),
        },
        { tool: 'kubectl', has: ['get --raw', 'grpc_response_status'], stdout: promAnswer('err') },
        {
          tool: 'kubectl',
          has: ['get --raw', 'inventory-canary'],
          when: { canary: 'on' },
          counter: { key: 'all', step: 10 },
          stdout: promAnswer('all'),
        },
        { tool: 'kubectl', has: ['get --raw', 'inventory-canary'], stdout: promAnswer('all') },
        {
          tool: 'kubectl',
          has: ['get virtualservice inventory', 'weighted'],
          when: { canary: 'on' },
          stdout: '25',
        },
        { tool: 'kubectl', has: ['get virtualservice inventory', 'weighted'], stdout: '' },
        {
          tool: 'kubectl',
          has: ['get pods -l app=inventory,track=canary -o name'],
          when: { canary: 'on' },
          stdout: 'pod/inventory-canary-6c-x\n',
        },
        { tool: 'kubectl', has: ['get pods -l app=inventory,track=canary -o name'], stdout: '' },
        {
          tool: 'curl',
          has: ['/v1/products'],
          when: { canary: 'on' },
          stdoutSeq: ['200 0.02', '200 0.02', '200 0.02', '503 0.01'],
        },
        { tool: 'curl', has: ['/v1/products'], stdout: '200 0.02' },
      ],
      state: { canary: 'off', err: '5', all: '100' },
      restored: { canary: 'off' },
      order: [
        ['helm', ['upgrade shop', 'canary.enabled=true', 'canary.weight=25', '--wait']],
        ['kubectl', ['rollout status deployment/inventory-canary']],
        ['kubectl', ['get --raw', 'grpc_response_status!%3D%220%22']],
        ['curl', ['/v1/products']],
        ['helm', ['upgrade shop', 'canary.weight=0', 'canary.enabled=false']],
        ['curl', ['/v1/products']],
        ['kubectl', ['get pods -l app=inventory,track=canary']],
        ['helm', ['upgrade shop', 'canary.enabled=false', 'canary.faults={}']],
      ],
      brokenAfterFix: [
        {
          tool: 'kubectl',
          has: ['get pods -l app=inventory,track=canary -o name'],
          when: { canary: 'off' },
          stdout: 'pod/inventory-canary-6c-x\n',
        },
      ],
    },
    {
      id: 'mesh-latency',
      rules: [
        CONTEXT,
        {
          tool: 'helm',
          has: [
            'upgrade shop',
            'services.gateway.podAnnotations={"sidecar.istio.io/proxyCPU":"10m","sidecar.istio.io/proxyCPULimit":"20m"}',
            'mesh.sidecarScope.enabled=false',
          ],
          set: { lat: 'bad' },
        },
        {
          tool: 'helm',
          has: [
            'upgrade shop',
            'podAnnotations={"sidecar.istio.io/proxyCPU":"100m"',
            'mesh.sidecarScope.enabled=true',
          ],
          set: { lat: 'good' },
        },
        {
          tool: 'helm',
          has: ['upgrade shop', 'podAnnotations={}', 'mesh.sidecarScope.enabled=false'],
          set: { lat: 'reset' },
        },
        {
          tool: 'istioctl',
          has: ['proxy-config cluster deploy/gateway-stable -n shop -o json'],
          when: { lat: 'bad' },
          stdout: clusters(64),
        },
        { tool: 'istioctl', has: ['proxy-config cluster deploy/gateway-stable'], stdout: clusters(14) },
        {
          tool: 'kubectl',
          has: ['get --raw', 'container_cpu_cfs_throttled_periods_total', 'istio-proxy'],
          when: { lat: 'bad' },
          stdout: promValue('0.62'),
        },
        {
          tool: 'kubectl',
          has: ['get --raw', 'container_cpu_cfs_throttled_periods_total'],
          stdout: promValue('0.01'),
        },
        { tool: 'curl', has: ['/v1/products'], when: { lat: 'bad' }, stdout: '200 0.180' },
        { tool: 'curl', has: ['/v1/products'], stdout: '200 0.021' },
      ],
      state: { lat: 'reset' },
      restored: { lat: 'reset' },
      order: [
        ['helm', ['upgrade shop', 'proxyCPULimit":"20m"', 'sidecarScope.enabled=false']],
        ['istioctl', ['proxy-config cluster']],
        ['curl', ['/v1/products']],
        ['kubectl', ['get --raw', 'throttled']],
        ['helm', ['upgrade shop', 'proxyCPULimit":"1"', 'sidecarScope.enabled=true']],
        ['istioctl', ['proxy-config cluster']],
        ['helm', ['upgrade shop', 'podAnnotations={}']],
      ],
      brokenAfterFix: [
        { tool: 'istioctl', has: ['proxy-config cluster'], when: { lat: 'good' }, stdout: clusters(64) },
      ],
    },
    {
      id: 'autoscaling',
      rules: [
        CONTEXT,
        { tool: 'kubectl', has: ['get apiservice v1beta1.metrics.k8s.io'], stdout: 'True' },
        {
          tool: 'helm',
          has: ['upgrade shop', 'services.gateway.autoscaling.enabled=false', 'services.gateway.replicas=1'],
          set: { hpa: 'off' },
        },
        {
          tool: 'helm',
          has: [
            'upgrade shop',
            'autoscaling.enabled=true',
            'autoscaling.minReplicas=1',
            'autoscaling.maxReplicas=4',
          ],
          set: { hpa: 'on' },
        },
        {
          tool: 'helm',
          has: ['upgrade shop', 'autoscaling.enabled=true', 'autoscaling.minReplicas=2'],
          set: { hpa: 'default' },
        },
        {
          tool: 'kubectl',
          has: ['create namespace shop-load --dry-run=client -o yaml'],
          stdout: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop-load\n',
        },
        { tool: 'kubectl', has: ['-n shop-load delete job', '--ignore-not-found'] },
        { tool: 'kubectl', has: ['apply -f -'] },
        { tool: 'kubectl', has: ['-n shop-load wait --for=condition=complete job/shop-load-'] },
        {
          tool: 'kubectl',
          has: ['-n shop-load logs job/shop-load-before'],
          stdout: `npm warn exec The following package was not found and will be installed: autocannon@8.0.0\n${autocannon(310, 850)}\n`,
        },
        {
          tool: 'kubectl',
          has: ['-n shop-load logs job/shop-load-after'],
          when: { hpa: 'on' },
          stdout: `${autocannon(720, 140)}\n`,
        },
        {
          tool: 'kubectl',
          has: ['-n shop-load logs job/shop-load-after'],
          stdout: `${autocannon(300, 900, 40)}\n`,
        },
        {
          tool: 'kubectl',
          has: ['get deployment gateway-stable', '{.status.readyReplicas}'],
          when: { hpa: 'on' },
          stdout: '3',
        },
        { tool: 'kubectl', has: ['get deployment gateway-stable', '{.status.readyReplicas}'], stdout: '1' },
        { tool: 'kubectl', has: ['get hpa gateway', 'desiredReplicas'], when: { hpa: 'on' }, stdout: '3' },
        { tool: 'kubectl', has: ['get hpa gateway', 'currentMetrics'], when: { hpa: 'on' }, stdout: '85' },
        {
          tool: 'kubectl',
          has: ['get hpa gateway'],
          exit: 1,
          stderr: 'Error from server (NotFound): horizontalpodautoscalers.autoscaling "gateway" not found\n',
        },
        { tool: 'kubectl', has: ['delete namespace shop-load --ignore-not-found'] },
      ],
      state: { hpa: 'default' },
      restored: { hpa: 'default' },
      order: [
        ['kubectl', ['get apiservice v1beta1.metrics.k8s.io']],
        ['helm', ['upgrade shop', 'autoscaling.enabled=false']],
        ['kubectl', ['-n shop-load apply -f -']],
        ['kubectl', ['wait --for=condition=complete job/shop-load-before', '--timeout 270s']],
        ['kubectl', ['logs job/shop-load-before']],
        ['helm', ['upgrade shop', 'autoscaling.enabled=true', 'minReplicas=1']],
        ['kubectl', ['logs job/shop-load-after']],
        ['kubectl', ['get hpa gateway']],
        ['kubectl', ['delete namespace shop-load']],
        ['helm', ['upgrade shop', 'minReplicas=2']],
      ],
      brokenAfterFix: [
        {
          tool: 'kubectl',
          has: ['get deployment gateway-stable', '{.status.readyReplicas}'],
          when: { hpa: 'on' },
          stdout: '1',
        },
      ],
      extra: (r) => {
        const job = r.calls.find(
          (c) => c.args.join(' ') === '-n shop-load apply -f -' && c.stdin.includes('kind: Job'),
        );
        assert.ok(job, 'the load generator is a Job');
        assert.match(job.stdin, /"npx", "-y", "autocannon@8\.0\.0", "--json", "-c", "32"/);
        assert.match(job.stdin, /Host: shop\.localtest\.me/);
        assert.match(job.stdin, /istio-ingressgateway\.istio-system\.svc\.cluster\.local\/v1\/products/);
        assert.match(job.stdin, /activeDeadlineSeconds: 270/);
        assert.match(r.stdout, /p99 +> 200 ms \(saturated\) +850 ms \(310 req\/s/);
      },
    },
    {
      id: 'multi-cluster',
      extraTools: ['docker'],
      rules: [
        CONTEXT,
        { tool: 'kind', has: ['get clusters'], stdout: 'cloud-native-shop\n' },
        { tool: 'kind', has: ['create cluster --name shop-east', 'kind-multi-east.yaml', '--wait'] },
        {
          tool: 'kind',
          has: ['create cluster --name shop-west', 'kind-multi-west-overlap.yaml'],
          set: { west: 'overlap' },
        },
        {
          tool: 'kind',
          has: ['create cluster --name shop-west', 'kind-multi-west.yaml'],
          set: { west: 'distinct' },
        },
        { tool: 'kind', has: ['delete cluster --name shop-west'], set: { west: 'none' } },
        { tool: 'kind', has: ['delete cluster --name shop-east'] },
        {
          tool: 'kubectl',
          has: ['--context kind-shop-', 'run ', '--dry-run=client -o yaml'],
          stdout: 'apiVersion: v1\nkind: Pod\n',
        },
        { tool: 'kubectl', has: ['--context kind-shop-', 'apply -f -'] },
        { tool: 'kubectl', has: ['--context kind-shop-', 'wait --for=condition=Ready pod/'] },
        {
          tool: 'kubectl',
          has: ['--context kind-shop-west get nodes', 'podCIDR'],
          when: { west: 'overlap' },
          stdout: '10.244.0.0/24',
        },
        { tool: 'kubectl', has: ['--context kind-shop-west get nodes', 'podCIDR'], stdout: '10.245.0.0/24' },
        { tool: 'kubectl', has: ['--context kind-shop-east get nodes', 'podCIDR'], stdout: '10.244.0.0/24' },
        {
          tool: 'kubectl',
          has: ['--context kind-shop-west get pod echo-west', 'podIP'],
          when: { west: 'overlap' },
          stdout: '10.244.0.5',
        },
        {
          tool: 'kubectl',
          has: ['--context kind-shop-west get pod echo-west', 'podIP'],
          stdout: '10.245.0.5',
        },
        {
          tool: 'kubectl',
          has: ['--context kind-shop-east get pod echo-east', 'podIP'],
          stdout: '10.244.0.5',
        },
        // With the overlap the west address is east's own echo; with distinct ranges it is west's, 25 ms away.
        {
          tool: 'kubectl',
          has: ['--context kind-shop-east exec client -- curl', 'http://10.244.0.5:8080/hostname'],
          stdout: 'echo-east 0.0012',
        },
        {
          tool: 'kubectl',
          has: ['--context kind-shop-east exec client -- curl', 'http://10.245.0.5:8080/hostname'],
          when: { delay: 'on' },
          stdout: 'echo-west 0.0281',
        },
        {
          tool: 'kubectl',
          has: ['--context kind-shop-east exec client -- curl', 'http://10.245.0.5:8080/hostname'],
          stdout: 'echo-west 0.0016',
        },
        { tool: 'docker', has: ['inspect', 'shop-east-control-plane'], stdout: '172.18.0.5' },
        { tool: 'docker', has: ['inspect', 'shop-west-control-plane'], stdout: '172.18.0.6' },
        { tool: 'docker', has: ['exec shop-east-control-plane ip route replace', 'via 172.18.0.6'] },
        { tool: 'docker', has: ['exec shop-west-control-plane ip route replace', 'via 172.18.0.5'] },
        {
          tool: 'docker',
          has: ['exec shop-west-control-plane tc qdisc replace dev eth0 root netem delay 25ms'],
          set: { delay: 'on' },
        },
      ],
      state: { west: 'none' },
      restored: { west: 'none' },
      order: [
        ['kind', ['create cluster --name shop-east']],
        ['kind', ['create cluster --name shop-west', 'kind-multi-west-overlap.yaml']],
        ['docker', ['exec shop-east-control-plane ip route replace 10.244.0.0/24 via 172.18.0.6']],
        ['kubectl', ['exec client -- curl', '10.244.0.5']],
        ['kind', ['delete cluster --name shop-west']],
        ['kind', ['create cluster --name shop-west', 'kind-multi-west.yaml']],
        ['docker', ['exec shop-east-control-plane ip route replace 10.245.0.0/24 via 172.18.0.6']],
        ['docker', ['tc qdisc replace', 'netem delay 25ms']],
        ['kubectl', ['exec client -- curl', '10.245.0.5']],
        ['kind', ['delete cluster --name shop-west']],
        ['kind', ['delete cluster --name shop-east']],
      ],
      brokenAfterFix: [
        {
          tool: 'kubectl',
          has: ['exec client -- curl', 'http://10.245.0.5:8080/hostname'],
          stdout: 'echo-west 0.0016',
        },
      ],
    },
  ];
};

void describe('cluster labs added for issue 10 (k8s/labs/run.sh) against recording stubs', () => {
  for (const lab of cases()) describeLab(lab);

  void it('the multi-cluster kind configs: the overlap pair shares ranges, the fixed west has its own', () => {
    const read = (f: string) => readFileSync(join(repoRoot, 'k8s', f), 'utf8');
    const field = (f: string, k: string) => new RegExp(`${k}: (\\S+)`).exec(read(f))?.[1];
    assert.equal(
      field('kind-multi-east.yaml', 'podSubnet'),
      field('kind-multi-west-overlap.yaml', 'podSubnet'),
    );
    assert.notEqual(field('kind-multi-east.yaml', 'podSubnet'), field('kind-multi-west.yaml', 'podSubnet'));
    assert.notEqual(
      field('kind-multi-east.yaml', 'serviceSubnet'),
      field('kind-multi-west.yaml', 'serviceSubnet'),
    );
    // The same node image as the quickstart's cluster (pinned there).
    const image = field('kind-config.yaml', 'image');
    assert.ok(image);
    for (const f of ['kind-multi-east.yaml', 'kind-multi-west-overlap.yaml', 'kind-multi-west.yaml'])
      assert.equal(field(f, 'image'), image, f);
  });
});
