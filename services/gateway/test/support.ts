import { once } from 'node:events';
import { createServer } from 'node:net';
import type { Logger } from '@shop/platform';
import { createLogger, loadConfig } from '@shop/platform';
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
  const config = loadConfig(schema, {
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
  await service.start();
  return { service, url: `http://127.0.0.1:${service.ports.http}`, stop: () => service.stop() };
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

/** One HTTP request; `json` is serialised and sent as application/json, `raw` is sent as is. */
export async function call<T = ProblemBody>(
  base: string,
  method: string,
  path: string,
  opts: { json?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
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
