import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { inventoryV1, ordersV1, paymentsV1 } from '@shop/contracts';
import { IdentityClient } from '@shop/testkit';
import type { Identity } from '@shop/testkit';

export interface Options {
  gateway: string;
  orders: string;
  inventory: string;
  payments: string;
  [key: string]: string;
}

/** `--name value` pairs over defaults; unknown flags are an error naming them. */
export function parseArgs(argv: string[], defaults: Record<string, string>): Options {
  const out: Record<string, string> = {
    gateway: 'http://127.0.0.1:8080',
    orders: '127.0.0.1:50051',
    inventory: '127.0.0.1:50052',
    payments: '127.0.0.1:50053',
    // The OpenID Connect issuer whose tokens the platform accepts (the one `npm start` runs).
    issuer: process.env.OIDC_ISSUER || 'http://127.0.0.1:8090',
    ...defaults,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(flag);
    if (!m?.[1] || !(m[1] in out))
      throw new Error(
        `unknown option ${flag}; options: ${Object.keys(out)
          .map((k) => `--${k}`)
          .join(' ')}`,
      );
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`option --${m[1]} needs a value`);
    out[m[1]] = value;
  }
  return out as Options;
}

export function positiveInt(opts: Options, name: string): number {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v <= 0)
    throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(opts[name])}`);
  return v;
}

export interface RestOrder {
  id: string;
  customerId: string;
  items: { sku: string; quantity: number; unitPriceCents: number }[];
  totalCents: number;
  currency: string;
  status: 'PENDING' | 'APPROVED' | 'REJECTED' | 'CANCELLED';
  rejectionReason: string | null;
  createdAt: string;
  updatedAt: string;
}

export const TERMINAL = new Set(['APPROVED', 'REJECTED', 'CANCELLED']);

/** Signs the tools' customers in at the issuer of `--issuer` (real code + PKCE sign-ins, tokens cached). */
export const identityClient = (opts: Options) => new IdentityClient(opts.issuer ?? '');

/** Who a request is sent as: `Authorization: Bearer` of a signed-in account. */
export type Auth = Pick<Identity, 'headers'>;

/**
 * `count` fresh customers (`<prefix>-<random>`), registered and signed in before they are used (at most 8 sign-ins
 * at a time), so that no measured request waits for a sign-in.
 */
export async function signedInCustomers(
  identity: IdentityClient,
  prefix: string,
  count: number,
): Promise<Identity[]> {
  const out = Array.from({ length: count }, () => identity.customer(prefix));
  await pool(count, 8, async (i) => void (await out[i]?.token()));
  return out;
}

export class Rest {
  constructor(
    private readonly base: string,
    private readonly auth?: Auth,
  ) {}

  /** The same edge, requests sent as `auth`. */
  as(auth: Auth): Rest {
    return new Rest(this.base, auth);
  }

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    const all = { ...(this.auth ? await this.auth.headers() : {}), ...headers };
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: body === undefined ? all : { 'content-type': 'application/json', ...all },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async placeOrder(customerId: string, items: { sku: string; quantity: number }[]): Promise<RestOrder> {
    const res = await this.call<RestOrder>('POST', '/v1/orders', { customerId, items });
    if (res.status !== 201)
      throw new Error(`POST /v1/orders answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async getOrder(id: string): Promise<RestOrder> {
    const res = await this.call<RestOrder>('GET', `/v1/orders/${id}`);
    if (res.status !== 200) throw new Error(`GET /v1/orders/${id} answered ${res.status}`);
    return res.body;
  }

  /** Polls until the order leaves PENDING (or `want` is reached), backing off from 20 ms to 200 ms. */
  async waitFor(id: string, timeoutMs: number, want?: string): Promise<RestOrder> {
    const deadline = Date.now() + timeoutMs;
    let delay = 20;
    for (;;) {
      const order = await this.getOrder(id);
      if (want ? order.status === want : TERMINAL.has(order.status)) return order;
      if (Date.now() > deadline) throw new Error(`order ${id} still ${order.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 200);
    }
  }
}

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => unknown;
/** gRPC metadata carrying an access token, as the gateway forwards the caller's (`authorization: Bearer`). */
export function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

export function call<Req, Res>(
  fn: Unary<Req, Res>,
  req: Req,
  deadlineMs = 10_000,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn(req, metadata, { deadline: Date.now() + deadlineMs }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

/** The `--tls-cert/--tls-key/--tls-ca` options of the tools that call the services over gRPC (all or none). */
export const TLS_OPTIONS = { 'tls-cert': '', 'tls-key': '', 'tls-ca': '' };

/**
 * Plaintext, or mutual TLS when the services run with GRPC_TLS_* (the tool presents the given certificate and checks
 * that the server's SAN names the service: DNS:<name> or a spiffe:// id ending in /<name>, as the services do).
 */
function channel(opts: Options, name: string): [grpc.ChannelCredentials, grpc.ChannelOptions] {
  const files = [opts['tls-cert'], opts['tls-key'], opts['tls-ca']];
  if (files.every((f) => !f)) return [grpc.credentials.createInsecure(), {}];
  if (files.some((f) => !f)) throw new Error('--tls-cert, --tls-key and --tls-ca go together');
  const [cert, key, ca] = files.map((f) => readFileSync(f ?? ''));
  const creds = grpc.credentials.createSsl(ca, key, cert, {
    checkServerIdentity: (_host, peer) => {
      const sans = (peer.subjectaltname ?? '').split(',').map((x) => x.trim());
      const ok = sans.some(
        (x) => x === `DNS:${name}` || (x.startsWith('URI:spiffe://') && x.split('/').pop() === name),
      );
      return ok ? undefined : new Error(`server certificate does not name ${name}: ${sans.join(', ')}`);
    },
  });
  return [creds, { 'grpc.ssl_target_name_override': name }];
}

export function clients(opts: Options) {
  const orders = new ordersV1.OrderServiceClient(opts.orders, ...channel(opts, 'orders'));
  const inventory = new inventoryV1.InventoryServiceClient(opts.inventory, ...channel(opts, 'inventory'));
  const payments = new paymentsV1.PaymentServiceClient(opts.payments, ...channel(opts, 'payments'));
  return {
    orders,
    inventory,
    payments,
    close() {
      orders.close();
      inventory.close();
      payments.close();
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` at a time. */
export async function pool(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells: (string | number)[]) =>
    cells.map((c, i) => String(c).padEnd(widths[i] ?? 0)).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
