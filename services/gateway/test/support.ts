import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { Logger } from '@shop/platform';
import * as rules from '@shop/contracts/rules';
import { createLogger, loadConfig } from '@shop/platform';
import type { TestIssuer } from '@shop/testkit';
import { testIssuer } from '@shop/testkit';
import { createService, schema } from '../src/service';
import type { GatewayService } from '../src/service';

export const quiet = (): Logger => createLogger('gateway-test', process.env.TEST_LOG_LEVEL ?? 'silent');

/** A logger whose JSON lines are kept in `lines`, to assert on what the gateway logs. */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('gateway-test', 'info', {
    write: (line: string) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, lines };
}

/** A loopback port that nothing listens on (bound then released): an upstream that is down. */
export async function deadAddress(): Promise<string> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

// The real issuer (tools/issuer, in this process) whose tokens the gateway and the backends verify: one per test
// file, started by the first gateway or backend stack and stopped with the last.
let issuer: TestIssuer | undefined;
let issuerUsers = 0;

export async function acquireIssuer(): Promise<TestIssuer> {
  issuerUsers += 1;
  issuer ??= await testIssuer();
  return issuer;
}

export async function releaseIssuer(): Promise<void> {
  issuerUsers -= 1;
  if (issuerUsers > 0 || !issuer) return;
  const i = issuer;
  issuer = undefined;
  await i.stop();
}

/** The running issuer of this test file. */
export function currentIssuer(): TestIssuer {
  if (!issuer) throw new Error('no issuer: start a gateway or the backends first');
  return issuer;
}

const passwords = new Map<string, Promise<string>>([
  ['alice', Promise.resolve('alice-demo')],
  ['bob', Promise.resolve('bob-demo')],
]);

/** An access token of a customer (signed up at the issuer on first use), or of the operator `ops` when none. */
export async function tokenOf(customerId?: string): Promise<string> {
  const client = currentIssuer().client;
  if (customerId === undefined) return client.operator().token();
  let password = passwords.get(customerId);
  if (!password) {
    const chosen = randomUUID();
    password = client.register(customerId, chosen).then(() => chosen);
    passwords.set(customerId, password);
  }
  return client.token(customerId, await password);
}

/**
 * Who a test's request acts as unless it says: the customer its body or query names, when that is a well-formed
 * customer id, else the operator (who reads everything; a malformed id is refused by validation either way).
 */
async function defaultToken(path: string, json: unknown): Promise<string> {
  const fromBody = (json as { customerId?: unknown } | null | undefined)?.customerId;
  const fromQuery = new URL(path, 'http://x').searchParams.getAll('customerId');
  const named = typeof fromBody === 'string' ? fromBody : fromQuery.length === 1 ? fromQuery[0] : undefined;
  const valid = typeof named === 'string' && rules.checkString(rules.CUSTOMER_ID, named) === undefined;
  return tokenOf(valid ? named : undefined);
}

export interface RunningGateway {
  service: GatewayService;
  url: string;
  stop(): Promise<void>;
}

export async function startGateway(upstreams: {
  orders: string;
  inventory: string;
  payments: string;
  deadlineMs?: number;
  /** More variables (for example GRPC_BREAKER_FAILURES). */
  env?: Record<string, string>;
  logger?: Logger;
}): Promise<RunningGateway> {
  const { url: issuerUrl } = await acquireIssuer();
  const config = loadConfig(schema, {
    OIDC_ISSUER: issuerUrl,
    BIND_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    LOG_LEVEL: 'silent',
    ORDERS_ADDR: upstreams.orders,
    INVENTORY_ADDR: upstreams.inventory,
    PAYMENTS_ADDR: upstreams.payments,
    GRPC_DEADLINE_MS: String(upstreams.deadlineMs ?? 2000),
    ...upstreams.env,
  });
  const service = createService(config, { logger: upstreams.logger ?? quiet() });
  try {
    await service.start();
  } catch (err) {
    await releaseIssuer();
    throw err;
  }
  let stopped = false;
  return {
    service,
    url: `http://127.0.0.1:${service.ports.http}`,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await service.stop();
      await releaseIssuer();
    },
  };
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors: { field: string; message: string }[];
}

export interface Answer<T = ProblemBody> {
  status: number;
  headers: Headers;
  contentType: string;
  /** Parsed JSON (a problem or a resource, as the caller expects); undefined for other bodies. */
  body: T;
  text: string;
}

/**
 * One HTTP request; `json` is serialised and sent as application/json, `raw` is sent as is. It carries an access
 * token of the customer it names (see defaultToken) unless `token` is given (null: no Authorization header) or
 * `headers` has an Authorization of its own.
 */
export async function call<T = ProblemBody>(
  base: string,
  method: string,
  path: string,
  opts: { json?: unknown; raw?: string; headers?: Record<string, string>; token?: string | null } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const hasAuth = Object.keys(headers).some((h) => h.toLowerCase() === 'authorization');
  if (!hasAuth && opts.token !== null) {
    const token = opts.token ?? (await defaultToken(path, opts.json));
    headers.authorization = `Bearer ${token}`;
  }
  let body: string | undefined;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] ??= 'application/json';
  } else if (opts.raw !== undefined) body = opts.raw;
  // Bounded: a hung request fails this test with a clear error instead of the runner's timeout.
  const res = await fetch(base + path, {
    method,
    headers,
    signal: AbortSignal.timeout(15_000),
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  const parsed = (contentType.includes('json') ? JSON.parse(text) : undefined) as T;
  return { status: res.status, headers: res.headers, contentType, body: parsed, text };
}

/** Total gRPC calls the gateway has made (its `grpc_client_handled_total`), read from its own /metrics. */
export async function upstreamCalls(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('grpc_client_handled_total{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
