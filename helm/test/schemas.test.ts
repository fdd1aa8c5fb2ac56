// Every rendered object, in every profile, against the Kubernetes and Istio OpenAPI schemas, unknown fields refused.
//
// The validators are the ajv-compiled schemas shipped by the npm packages kubernetes-models (Kubernetes 1.3x
// OpenAPI) and @kubernetes-models/istio (Istio CRD schemas). Those schemas, like the upstream ones, do not set
// additionalProperties: false, so unknown fields are found by probing: each field in turn is replaced by a value no
// schema accepts (a Symbol); a field the schema knows yields an error at its own path, an unknown one yields none.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment -- YAML documents */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMap, parseYamlStream, profiles, render, repoRoot, type K8sObject } from './support';

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params?: unknown;
}
type ValidateFn = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

// apiVersion/kind -> generated validator. A kind missing here fails the test: nothing is rendered unchecked.
const schemaFiles: Record<string, string> = {
  'v1/ConfigMap': 'kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap.js',
  'v1/Secret': 'kubernetes-models/_schemas/IoK8sApiCoreV1Secret.js',
  'v1/Service': 'kubernetes-models/_schemas/IoK8sApiCoreV1Service.js',
  'v1/ServiceAccount': 'kubernetes-models/_schemas/IoK8sApiCoreV1ServiceAccount.js',
  'v1/Pod': 'kubernetes-models/_schemas/IoK8sApiCoreV1Pod.js',
  'apps/v1/Deployment': 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment.js',
  'apps/v1/StatefulSet': 'kubernetes-models/_schemas/IoK8sApiAppsV1StatefulSet.js',
  'autoscaling/v2/HorizontalPodAutoscaler':
    'kubernetes-models/_schemas/IoK8sApiAutoscalingV2HorizontalPodAutoscaler.js',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget.js',
  'networking.k8s.io/v1/NetworkPolicy': 'kubernetes-models/_schemas/IoK8sApiNetworkingV1NetworkPolicy.js',
  'security.istio.io/v1/PeerAuthentication':
    '@kubernetes-models/istio/_schemas/SecurityIstioIoV1PeerAuthentication.js',
  'security.istio.io/v1/AuthorizationPolicy':
    '@kubernetes-models/istio/_schemas/SecurityIstioIoV1AuthorizationPolicy.js',
  'security.istio.io/v1/RequestAuthentication':
    '@kubernetes-models/istio/_schemas/SecurityIstioIoV1RequestAuthentication.js',
  'networking.istio.io/v1/DestinationRule':
    '@kubernetes-models/istio/_schemas/NetworkingIstioIoV1DestinationRule.js',
  'networking.istio.io/v1/VirtualService':
    '@kubernetes-models/istio/_schemas/NetworkingIstioIoV1VirtualService.js',
  'networking.istio.io/v1/Gateway': '@kubernetes-models/istio/_schemas/NetworkingIstioIoV1Gateway.js',
  'telemetry.istio.io/v1/Telemetry': '@kubernetes-models/istio/_schemas/TelemetryIstioIoV1Telemetry.js',
};

function nodeModulesFile(spec: string): string {
  // The packages are ESM with an exports map that hides _schemas from require.resolve: find the file itself.
  for (let dir = __dirname; ; dir = join(dir, '..')) {
    const candidate = join(dir, 'node_modules', spec);
    if (existsSync(candidate)) return candidate;
    if (dir === join(dir, '..')) throw new Error(`${spec} not found in any node_modules above ${__dirname}`);
  }
}

const validators = new Map<string, ValidateFn>();
async function validatorFor(obj: K8sObject): Promise<ValidateFn> {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const file = schemaFiles[key];
  assert.ok(file, `${key} (${obj.metadata?.name}) has no schema in this test: add one before rendering it`);
  let fn = validators.get(key);
  if (!fn) {
    const mod = (await import(pathToFileURL(nodeModulesFile(file)).href)) as { validate: ValidateFn };
    fn = mod.validate;
    validators.set(key, fn);
  }
  return fn;
}

const pointer = (path: string[]): string =>
  path.map((p) => '/' + p.replace(/~/g, '~0').replace(/\//g, '~1')).join('');

function* fieldPaths(value: unknown, path: string[] = []): Generator<string[]> {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* fieldPaths(v, [...path, String(i)]);
  } else if (isMap(value)) {
    for (const [k, v] of Object.entries(value)) {
      yield [...path, k];
      yield* fieldPaths(v, [...path, k]);
    }
  }
}

function setAt(root: unknown, path: string[], v: unknown): void {
  let cur = root as Record<string, unknown>;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  cur[path[path.length - 1]!] = v;
}

/** Problems of one object: schema errors, then every field the schema does not know. */
export async function problems(obj: K8sObject): Promise<string[]> {
  const validate = await validatorFor(obj);
  const where = `${obj.kind}/${obj.metadata.name}`;
  if (!validate(obj)) {
    return (validate.errors ?? []).map(
      (e) => `${where}: ${e.instancePath || '/'} ${e.keyword} ${JSON.stringify(e.params)}`,
    );
  }
  const out: string[] = [];
  const skip = new Set<string>();
  for (const path of fieldPaths(obj)) {
    const p = pointer(path);
    if ([...skip].some((s) => p.startsWith(s + '/'))) continue;
    const probe = structuredClone(obj) as unknown;
    setAt(probe, path, Symbol('probe'));
    if (validate(probe)) {
      out.push(`${where}: unknown field ${p}`);
      skip.add(p);
    } else {
      const hit = (validate.errors ?? []).some(
        (e) => e.instancePath === p || e.instancePath.startsWith(p + '/'),
      );
      if (!hit) {
        out.push(`${where}: unknown field ${p} (errors elsewhere only)`);
        skip.add(p);
      }
    }
  }
  return out;
}

void describe('rendered objects match the Kubernetes and Istio schemas, no unknown fields', () => {
  void it('the probe finds an unknown field and a schema violation (the check can fail)', async () => {
    const bad: K8sObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x' },
      spec: {
        selector: { matchLabels: { app: 'x' } },
        template: { spec: { containers: [{ name: 'x', image: 'x:1', readinessProbes: {} }] } },
      },
    };
    assert.deepEqual(await problems(bad), [
      'Deployment/x: unknown field /spec/template/spec/containers/0/readinessProbes',
    ]);
    const dr: K8sObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'x' },
      // The book's placement of retries (v1alpha3 DestinationRule) is not a DestinationRule field.
      spec: { host: 'x', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' }, retries: { attempts: 3 } } },
    };
    assert.deepEqual(await problems(dr), ['DestinationRule/x: unknown field /spec/trafficPolicy/retries']);
    const pa: K8sObject = {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'x' },
      spec: { mtls: { mode: 'STRICTEST' } },
    };
    assert.equal((await problems(pa)).length > 0, true);
  });

  for (const [name, values] of Object.entries(profiles)) {
    void it(`profile ${name}`, async () => {
      const objects = render(values);
      assert.ok(objects.length > 10, `profile ${name} rendered only ${objects.length} objects`);
      const all: string[] = [];
      for (const obj of objects) all.push(...(await problems(obj)));
      assert.deepEqual(all, []);
    });
  }

  void it('k8s/istio/telemetry.yaml is a valid Telemetry using the provider the IstioOperator declares', async () => {
    const telemetry = parseYamlStream(readFileSync(join(repoRoot, 'k8s', 'istio', 'telemetry.yaml'), 'utf8'));
    assert.equal(telemetry.length, 1);
    assert.deepEqual(await problems(telemetry[0]!), []);
    // The IstioOperator CRD declares spec as free-form (x-kubernetes-preserve-unknown-fields), so no schema can
    // check it here: `istioctl install` validates it. What is checked is its agreement with the other files.
    const [op] = parseYamlStream(
      readFileSync(join(repoRoot, 'k8s', 'istio', 'istio-operator.yaml'), 'utf8'),
    ) as any[];
    assert.equal(op.apiVersion, 'install.istio.io/v1alpha1');
    assert.equal(op.kind, 'IstioOperator');
    const providers = (op.spec.meshConfig.extensionProviders as { name: string }[]).map((p) => p.name);
    const used = (telemetry[0] as any).spec.tracing[0].providers[0].name as string;
    assert.ok(
      providers.includes(used),
      `Telemetry uses provider ${used}, IstioOperator declares ${providers.join(', ')}`,
    );
    const kind = parseYamlStream(readFileSync(join(repoRoot, 'k8s', 'kind-config.yaml'), 'utf8'))[0] as any;
    const mapped = (kind.nodes[0].extraPortMappings as { containerPort: number }[]).map(
      (m) => m.containerPort,
    );
    const ingress = op.spec.components.ingressGateways[0].k8s.service;
    assert.equal(ingress.type, 'NodePort');
    const http = (ingress.ports as { name: string; targetPort: number; nodePort?: number }[]).find(
      (p) => p.name === 'http2',
    );
    assert.ok(http?.nodePort && mapped.includes(http.nodePort), 'the ingress NodePort is published by kind');
  });
});
