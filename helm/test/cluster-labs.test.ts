// The cluster labs (k8s/labs/run.sh) against recording stubs of kubectl, helm, istioctl and curl: each lab's full run
// makes the expected calls in order and passes; with --no-fix, or when the cluster still measures broken after the
// fix, verify fails (exit 1); bad arguments exit 2. Not a run on a real kind cluster (none here): the stubs answer
// as the real tools do for the calls each script makes, from a state the calls change.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LabCase } from './cluster-lab-harness';
import { CONTEXT, RUN, describeLab, promAnswer, report } from './cluster-lab-harness';
import type { Rule } from './stub-tools';
import { runWithStubs } from './stub-tools';

function openssl(args: string[]) {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

const cases = (): LabCase[] => {
  const dir = mkdtempSync(join(tmpdir(), 'shop-old-ca-'));
  const oldCa = join(dir, 'ca.pem');
  const oldKey = join(dir, 'ca-key.pem');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '30',
    '-subj',
    '/O=test/CN=old mesh root',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-keyout',
    oldKey,
    '-out',
    oldCa,
  ]);
  const oldPem = readFileSync(oldCa, 'utf8');
  const b64 = (f: string) => readFileSync(f).toString('base64');

  return [
    {
      id: 'coredns-outage',
      rules: [
        CONTEXT,
        { tool: 'kubectl', has: ['get deployment coredns', '{.spec.replicas}'], stdout: '2' },
        { tool: 'kubectl', has: ['scale deployment coredns --replicas=0'], set: { dns: 'down' } },
        { tool: 'kubectl', has: ['scale deployment coredns --replicas=2'], set: { dns: 'up' } },
        { tool: 'kubectl', has: ['get endpointslices'], when: { dns: 'down' }, stdout: '' },
        { tool: 'kubectl', has: ['get endpointslices'], stdout: '10.244.0.3\n10.244.0.4\n' },
        { tool: 'kubectl', has: ['rollout status deployment/coredns'] },
        { tool: 'kubectl', has: ['{.status.readyReplicas}'], when: { dns: 'down' }, stdout: '' },
        { tool: 'kubectl', has: ['{.status.readyReplicas}'], stdout: '2' },
        {
          tool: 'kubectl',
          has: ['exec deploy/orders-stable -c orders -- node -e'],
          when: { dns: 'down' },
          stdout: '0\n',
        },
        { tool: 'kubectl', has: ['exec deploy/orders-stable -c orders -- node -e'], stdout: '5\n' },
        // Established connections survive the outage: the edge keeps answering.
        { tool: 'curl', has: ['/v1/products'], stdout: '200 0.021' },
      ],
      state: { dns: 'up' },
      restored: { dns: 'up' },
      order: [
        ['kubectl', ['scale deployment coredns --replicas=0']],
        ['kubectl', ['exec deploy/orders-stable', 'inventory.shop.svc.cluster.local.']],
        ['curl', ['/v1/products']],
        ['kubectl', ['scale deployment coredns --replicas=2']],
        ['kubectl', ['rollout status deployment/coredns']],
        ['kubectl', ['exec deploy/orders-stable']],
        ['kubectl', ['scale deployment coredns --replicas=2']],
      ],
      brokenAfterFix: [
        { tool: 'kubectl', has: ['exec deploy/orders-stable'], when: { dns: 'up' }, stdout: '1\n' },
      ],
    },
    {
      id: 'mesh-fault-injection',
      rules: [
        CONTEXT,
        {
          tool: 'helm',
          has: ['upgrade shop', '--reuse-values', 'services.inventory.route.fault={"delay"'],
          set: { fault: 'on' },
        },
        {
          tool: 'helm',
          has: ['upgrade shop', '--reuse-values', 'services.inventory.route.fault={}'],
          set: { fault: 'off' },
        },
        { tool: 'kubectl', has: ['get virtualservice inventory'], stdout: '{"abort":{},"delay":{}}' },
        {
          tool: 'kubectl',
          has: ['get --raw', 'response_flags'],
          when: { fault: 'on' },
          counter: { key: 'injected', step: 9 },
          stdout: promAnswer('injected'),
        },
        { tool: 'kubectl', has: ['get --raw', 'response_flags'], stdout: promAnswer('injected') },
        {
          tool: 'curl',
          has: ['/v1/products'],
          when: { fault: 'on' },
          stdoutSeq: ['200 1.041', '503 1.012', '200 1.090'],
        },
        { tool: 'curl', has: ['/v1/products'], stdout: '200 0.031' },
      ],
      state: { fault: 'off', injected: '40' },
      restored: { fault: 'off' },
      order: [
        ['helm', ['upgrade shop', 'route.fault={"delay":{"fixedDelay":"1s"', '--wait']],
        ['kubectl', ['get --raw', 'FI%7CDI']],
        ['curl', ['-H Host: shop.localtest.me', 'http://127.0.0.1:8080/v1/products']],
        ['kubectl', ['get --raw', 'FI%7CDI']],
        ['helm', ['upgrade shop', 'route.fault={}']],
        ['curl', ['/v1/products']],
        ['helm', ['upgrade shop', 'route.fault={}']],
      ],
      brokenAfterFix: [{ tool: 'curl', has: ['/v1/products'], when: { fault: 'off' }, stdout: '200 1.020' }],
    },
    {
      id: 'outlier-detection',
      rules: [
        CONTEXT,
        {
          tool: 'helm',
          has: ['--set faults.adminApi=true --set mesh.outlierDetection.enabled=false'],
          set: { od: 'off' },
        },
        { tool: 'helm', has: ['mesh.outlierDetection.enabled=true'], set: { od: 'on' } },
        {
          tool: 'kubectl',
          has: ['get pods -l app=inventory,track=stable'],
          stdout: 'inventory-stable-7d9c-x1',
        },
        {
          tool: 'kubectl',
          has: ['get pod inventory-stable-7d9c-x1', '{.status.podIP}'],
          stdout: '10.244.1.7',
        },
        {
          tool: 'kubectl',
          has: ['exec inventory-stable-7d9c-x1 -c inventory', '/faults/grpc-server-error'],
          stdout: '204 \n',
        },
        {
          tool: 'kubectl',
          has: ['exec inventory-stable-7d9c-x1', '/metrics'],
          when: { od: 'off' },
          counter: { key: 'calls', step: 22 },
          stdout:
            'grpc_server_handled_total{grpc_method="ListProducts",grpc_code="Unavailable"} {{calls}}\ngrpc_server_handled_total{grpc_method="QuoteItems",grpc_code="OK"} 7\n',
        },
        {
          tool: 'kubectl',
          has: ['exec inventory-stable-7d9c-x1', '/metrics'],
          counter: { key: 'calls', step: 1 },
          stdout: 'grpc_server_handled_total{grpc_method="ListProducts",grpc_code="Unavailable"} {{calls}}\n',
        },
        {
          tool: 'istioctl',
          has: [
            'proxy-config endpoint deploy/gateway-stable',
            'outbound|50051|stable|inventory.shop.svc.cluster.local',
            '-o json',
          ],
          when: { od: 'on' },
          stdout:
            '[{"name":"outbound|50051|stable|inventory.shop.svc.cluster.local","hostStatuses":[{"address":{"socketAddress":{"address":"10.244.1.7","portValue":50051}},"healthStatus":{"failedOutlierCheck":true,"edsHealthStatus":"HEALTHY"}},{"address":{"socketAddress":{"address":"10.244.2.9","portValue":50051}},"healthStatus":{"edsHealthStatus":"HEALTHY"}}]}]',
        },
        {
          tool: 'istioctl',
          has: ['proxy-config endpoint deploy/gateway-stable'],
          stdout:
            '[{"name":"outbound|50051|stable|inventory.shop.svc.cluster.local","hostStatuses":[{"address":{"socketAddress":{"address":"10.244.1.7","portValue":50051}},"healthStatus":{"edsHealthStatus":"HEALTHY"}}]}]',
        },
        { tool: 'curl', has: ['/v1/products'], stdout: '200 0.015' },
      ],
      state: { od: 'on', calls: '100' },
      restored: { od: 'on' },
      order: [
        ['helm', ['faults.adminApi=true', 'mesh.outlierDetection.enabled=false', '--wait']],
        ['kubectl', ['exec inventory-stable-7d9c-x1', "method: 'PUT'"]],
        ['kubectl', ['exec inventory-stable-7d9c-x1', '/metrics']],
        ['curl', ['/v1/products']],
        ['istioctl', ['proxy-config endpoint']],
        ['helm', ['mesh.outlierDetection.enabled=true']],
        ['istioctl', ['proxy-config endpoint']],
        ['kubectl', ['exec inventory-stable-7d9c-x1', "method: 'DELETE'"]],
        ['helm', ['faults.adminApi=false', 'mesh.outlierDetection.enabled=true']],
      ],
      brokenAfterFix: [
        {
          tool: 'istioctl',
          has: ['proxy-config endpoint'],
          when: { od: 'on' },
          stdout:
            '[{"hostStatuses":[{"address":{"socketAddress":{"address":"10.244.1.7"}},"healthStatus":{}}]}]',
        },
      ],
    },
    {
      id: 'drain-without-pdb',
      rules: [
        CONTEXT,
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
          has: ['exec postgresql-0 -c postgresql -- pg_dump -U postgres -Fc orders'],
          stdout: 'PGDMP orders',
        },
        {
          tool: 'kubectl',
          has: ['exec postgresql-0 -c postgresql -- pg_dump -U postgres -Fc'],
          stdout: 'PGDMP other',
        },
        {
          tool: 'kubectl',
          has: ['get pod postgresql-0', '{.spec.nodeName}'],
          stdout: 'cloud-native-shop-worker',
        },
        {
          tool: 'kubectl',
          has: ['get pvc data-postgresql-0', '{.spec.volumeName}'],
          when: { data: 'intact' },
          stdout: 'pvc-old',
        },
        { tool: 'kubectl', has: ['get pvc data-postgresql-0', '{.spec.volumeName}'], stdout: 'pvc-new' },
        {
          tool: 'kubectl',
          has: ['get pv', 'persistentVolumeReclaimPolicy'],
          when: { policy: 'Retain' },
          stdout: 'Retain',
        },
        { tool: 'kubectl', has: ['get pv', 'persistentVolumeReclaimPolicy'], stdout: 'Delete' },
        {
          tool: 'kubectl',
          has: ['drain cloud-native-shop-worker', '--dry-run=server'],
          when: { pdb: 'on' },
          exit: 1,
          stderr:
            'evicting pod shop/postgresql-0\nerror when evicting pods/"postgresql-0" -n "shop" (will retry after 5s): Cannot evict pod as it would violate the pod\'s disruption budget.\n',
        },
        {
          tool: 'kubectl',
          has: ['drain cloud-native-shop-worker', '--dry-run=server'],
          stdout: 'pod/postgresql-0 evicted (server dry run)\n',
        },
        {
          tool: 'kubectl',
          has: ['drain cloud-native-shop-worker', '--ignore-daemonsets'],
          stdout: 'node/cloud-native-shop-worker drained\n',
        },
        { tool: 'kubectl', has: ['delete pvc data-postgresql-0 --wait=false'], set: { data: 'lost' } },
        { tool: 'kubectl', has: ['delete pod postgresql-0 --wait=false'] },
        {
          tool: 'kubectl',
          has: ['get pv pvc-old'],
          when: { data: 'lost' },
          exit: 1,
          stderr: 'Error from server (NotFound): persistentvolumes "pvc-old" not found\n',
        },
        { tool: 'kubectl', has: ['uncordon cloud-native-shop-worker'] },
        { tool: 'kubectl', has: ['wait --for=condition=Ready pod/postgresql-0'] },
        { tool: 'kubectl', has: ['rollout restart deployment/'] },
        { tool: 'kubectl', has: ['rollout status deployment/'] },
        {
          tool: 'kubectl',
          has: ['get pdb -l app=postgresql -o name'],
          when: { pdb: 'on' },
          stdout: 'poddisruptionbudget.policy/postgresql\n',
        },
        { tool: 'kubectl', has: ['get pdb -l app=postgresql -o name'], stdout: '' },
        {
          tool: 'kubectl',
          has: ['exec -i postgresql-0 -c postgresql -- pg_restore -U postgres -d', '--clean'],
          set: { data: 'restored' },
        },
        { tool: 'helm', has: ['postgresql.pdb.enabled=true'], set: { pdb: 'on' } },
        { tool: 'helm', has: ['postgresql.pdb.enabled=false'], set: { pdb: 'off' } },
        { tool: 'kubectl', has: ['patch pv pvc-new', '"Retain"'], set: { policy: 'Retain' } },
        { tool: 'kubectl', has: ['patch pv pvc-new', '"Delete"'], set: { policy: 'Delete' } },
      ],
      state: { data: 'intact', pdb: 'off', policy: 'Delete' },
      restored: { pdb: 'off', policy: 'Delete' },
      order: [
        ['curl', ['-X POST', '/v1/orders']],
        ['kubectl', ['pg_dump -U postgres -Fc orders']],
        ['kubectl', ['pg_dump -U postgres -Fc inventory']],
        ['kubectl', ['pg_dump -U postgres -Fc payments']],
        ['kubectl', ['drain cloud-native-shop-worker --ignore-daemonsets --delete-emptydir-data']],
        ['kubectl', ['delete pvc data-postgresql-0']],
        ['kubectl', ['uncordon cloud-native-shop-worker']],
        ['kubectl', ['rollout restart deployment/orders-stable']],
        ['curl', ['/v1/orders/ord-1']],
        ['kubectl', ['pg_restore', '-d orders']],
        ['kubectl', ['pg_restore', '-d payments']],
        ['helm', ['postgresql.pdb.enabled=true']],
        ['kubectl', ['patch pv pvc-new', 'Retain']],
        ['kubectl', ['drain', '--dry-run=server']],
        ['helm', ['postgresql.pdb.enabled=false']],
        ['kubectl', ['patch pv pvc-new', 'Delete']],
      ],
      brokenAfterFix: [
        { tool: 'curl', has: ['GET', '/v1/orders/ord-'], when: { data: 'restored' }, stdout: '404 0.01' },
      ],
    },
    {
      id: 'mesh-cert-rotation',
      rules: [
        CONTEXT,
        { tool: 'kubectl', has: ['get configmap istio-ca-root-cert'], stdout: '{{root}}' },
        {
          tool: 'kubectl',
          has: ['-n istio-system get secret cacerts'],
          exit: 1,
          stderr: 'Error from server (NotFound): secrets "cacerts" not found\n',
        },
        { tool: 'kubectl', has: ['get secret istio-ca-secret', '{.data.ca-cert\\.pem}'], stdout: b64(oldCa) },
        { tool: 'kubectl', has: ['get secret istio-ca-secret', '{.data.ca-key\\.pem}'], stdout: b64(oldKey) },
        {
          tool: 'kubectl',
          has: ['create secret generic cacerts', '--dry-run=client'],
          captureFile: [
            { prefix: 'root-cert.pem=', key: 'root' },
            { prefix: 'ca-cert.pem=', key: 'signer' },
          ],
          stdout: 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: cacerts\n',
        },
        { tool: 'kubectl', has: ['apply -f -'] },
        { tool: 'kubectl', has: ['delete secret cacerts --ignore-not-found'], set: { root: oldPem } },
        { tool: 'kubectl', has: ['rollout restart deployment/inventory-stable'], set: { mtls: 'broken' } },
        {
          tool: 'kubectl',
          has: ['get deployments,statefulsets -o name'],
          stdout:
            'deployment.apps/gateway-stable\ndeployment.apps/inventory-stable\nstatefulset.apps/postgresql\n',
        },
        {
          tool: 'kubectl',
          has: ['rollout restart deployment.apps/gateway-stable'],
          set: { mtls: 'ok', pods: 'renewed' },
        },
        { tool: 'kubectl', has: ['rollout restart'] },
        { tool: 'kubectl', has: ['rollout status'] },
        {
          tool: 'kubectl',
          has: ['get --raw', 'UF%7CURX'],
          when: { mtls: 'broken' },
          counter: { key: 'uf', step: 31 },
          stdout: promAnswer('uf'),
        },
        { tool: 'kubectl', has: ['get --raw', 'UF%7CURX'], stdout: promAnswer('uf') },
        { tool: 'helm', has: ['upgrade shop', '--set mtls.mode=PERMISSIVE'], set: { pa: 'PERMISSIVE' } },
        { tool: 'helm', has: ['upgrade shop', '--set mtls.mode=STRICT'], set: { pa: 'STRICT' } },
        { tool: 'kubectl', has: ['get peerauthentication default'], stdout: '{{pa}}' },
        {
          tool: 'kubectl',
          has: ['get pods', 'creationTimestamp'],
          when: { pods: 'renewed' },
          stdout: '2999-01-01T00:00:00Z\n2999-01-01T00:00:01Z\n',
        },
        { tool: 'kubectl', has: ['get pods', 'creationTimestamp'], stdout: '2020-01-01T00:00:00Z\n' },
        { tool: 'curl', has: ['/v1/products'], when: { mtls: 'broken' }, stdout: '503 0.004' },
        { tool: 'curl', has: ['/v1/products'], stdout: '200 0.02' },
      ],
      state: { root: oldPem, mtls: 'ok', uf: '3', pa: 'STRICT' },
      restored: { pa: 'STRICT', root: oldPem },
      order: [
        ['kubectl', ['get secret istio-ca-secret']],
        ['kubectl', ['create secret generic cacerts']],
        ['kubectl', ['apply -f -']],
        ['kubectl', ['rollout restart deployment/istiod']],
        ['kubectl', ['rollout restart deployment/inventory-stable']],
        ['curl', ['/v1/products']],
        ['helm', ['upgrade shop', '--set mtls.mode=PERMISSIVE']],
        ['kubectl', ['get peerauthentication default']],
        ['kubectl', ['create secret generic cacerts']],
        ['kubectl', ['rollout restart deployment/istiod']],
        ['kubectl', ['rollout restart deployment.apps/gateway-stable']],
        ['kubectl', ['rollout restart deployment/istio-ingressgateway']],
        ['kubectl', ['create secret generic cacerts']],
        ['kubectl', ['rollout restart deployment.apps/gateway-stable']],
        ['helm', ['upgrade shop', '--set mtls.mode=STRICT']],
        ['kubectl', ['get peerauthentication default']],
        ['helm', ['upgrade shop', '--set mtls.mode=STRICT']],
        ['kubectl', ['delete secret cacerts']],
        ['kubectl', ['rollout restart deployment/istiod']],
      ],
      brokenAfterFix: [{ tool: 'kubectl', has: ['get peerauthentication default'], stdout: 'PERMISSIVE' }],
    },
  ];
};

void describe('cluster labs (k8s/labs/run.sh) against recording stubs', () => {
  for (const lab of cases()) describeLab(lab);

  void it('a failed step fails its phase, names the command, skips grading and still resets', () => {
    const lab = cases().find((c) => c.id === 'coredns-outage');
    assert.ok(lab);
    const failing: Rule = {
      tool: 'kubectl',
      has: ['scale deployment coredns --replicas=0'],
      exit: 1,
      stderr: 'forbidden\n',
    };
    const r = runWithStubs(RUN, [lab.id], [failing, ...lab.rules], lab.state);
    assert.equal(r.status, 1, report(r));
    assert.match(r.stdout, /^break +MISS +error/m);
    assert.match(r.stderr, /FAILED \(exit 1\).*kubectl -n kube-system scale deployment coredns --replicas=0/);
    assert.doesNotMatch(r.stdout, /^observe/m);
    assert.match(r.stdout, /^reset +ok/m);
  });

  void it('one phase runs alone, with what the earlier phases left in the state directory', () => {
    const lab = cases().find((c) => c.id === 'coredns-outage');
    assert.ok(lab);
    const r = runWithStubs(RUN, [lab.id, 'observe'], lab.rules, { dns: 'down' });
    assert.equal(r.status, 0, report(r));
    assert.ok(!r.calls.some((c) => c.args.includes('scale')), 'observe changes nothing');
  });

  void it('bad arguments, an unknown lab and a foreign context exit 2 before touching the cluster', () => {
    for (const args of [
      [],
      ['no-such-lab'],
      ['coredns-outage', 'explode'],
      ['coredns-outage', '--force'],
      ['coredns-outage', 'break', 'extra'],
    ]) {
      const r = runWithStubs(RUN, args, [CONTEXT]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${report(r)}`);
      assert.match(
        r.stderr,
        /usage: .*run\.sh <mesh-cert-rotation\|mesh-latency\|coredns-outage\|istiod-outage\|call-graph-edge\|drain-without-pdb\|pvc-retention\|mesh-retry-storm\|mesh-canary-rollback\|mesh-fault-injection\|outlier-detection\|autoscaling\|multi-cluster>/,
      );
      assert.deepEqual(r.calls, []);
    }
    const prod = runWithStubs(
      RUN,
      ['coredns-outage'],
      [{ tool: 'kubectl', has: ['config current-context'], stdout: 'prod-eu-1\n' }],
    );
    assert.equal(prod.status, 2, report(prod));
    assert.match(prod.stderr, /not kind-cloud-native-shop/);
    assert.deepEqual(
      prod.calls.map((c) => c.args.join(' ')),
      ['config current-context'],
    );
  });

  void it('missing tools are all named at once (exit 2)', () => {
    const bin = mkdtempSync(join(tmpdir(), 'shop-path-'));
    for (const tool of ['bash', 'dirname']) {
      const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      symlinkSync(found, join(bin, tool));
    }
    const r = spawnSync(join(bin, 'bash'), [RUN, 'outlier-detection'], {
      encoding: 'utf8',
      env: { PATH: bin, HOME: process.env.HOME ?? '/tmp' },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /Missing prerequisites: kubectl helm jq curl istioctl/);
  });
});
