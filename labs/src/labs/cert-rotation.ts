// Incident scenario 1, "certificate rotation in the mesh": a scheduled rotation to a new CA issued certificates of a
// new format, and "custom certificate validation logic in some services rejected the new certificate format"; mTLS
// handshakes failed and 503s spread. Here the services run gRPC mTLS on certificates the lab makes with openssl (the
// old format: RSA, CN = service name), the gateway carries the legacy validator (fault legacy-cert-validator), and the
// rotation installs certificates of the Istio workload format (ECDSA P-256, empty subject, spiffe:// SAN, 24 h) from a
// new CA, the bundle holding both CAs. The services reload them without a restart; the gateway refuses every new
// handshake. Fix: the standard validation (chain + SAN), i.e. the legacy validator off.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestCa } from '@shop/testkit';
import { createCa, installCaBundle, installCerts, issueLeaf } from '@shop/testkit';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import type { RequestSpec, Series, Summary } from '../measure';
import { delta, drive, fmtSummary, request, sumOf, summarize } from '../measure';
import type { ServiceName } from '../platform';
import { SERVICE_NAMES } from '../platform';
import { operator, pct, placeOrderSpec } from './common';

const ID = 'cert-rotation';
const RELOAD_MS = 500;
/** Short, so that connections made with the old certificates are replaced within the lab's seconds. */
const MAX_CONNECTION_AGE_MS = 3000;
const PEERS = ['orders', 'inventory', 'payments'] as const;
const DAY = 86_400;

interface State {
  dir: string;
  rotatedAt: number;
  serials: Record<string, string>;
}

const stateOf = (ctx: LabContext) => ctx.state[ID] as State | undefined;

function certsDir(ctx: LabContext): string {
  if (!ctx.platform.stateDir)
    throw new Error(
      `${ID} writes certificates into the lab platform's state folder: run it without --attach`,
    );
  return join(ctx.platform.stateDir, ID);
}

const tlsEnv = (dir: string, svc: ServiceName): Record<string, string> => ({
  GRPC_TLS_CERT_FILE: join(dir, svc, 'cert.pem'),
  GRPC_TLS_KEY_FILE: join(dir, svc, 'key.pem'),
  GRPC_TLS_CA_FILE: join(dir, svc, 'ca.pem'),
  GRPC_TLS_RELOAD_MS: String(RELOAD_MS),
  GRPC_TLS_MAX_CONNECTION_AGE_MS: String(MAX_CONNECTION_AGE_MS),
});

const hasTls = (ctx: LabContext, svc: ServiceName) => Boolean(ctx.platform.overrides(svc).GRPC_TLS_CERT_FILE);

/** Reads of each upstream, and orders placed: every gRPC link of the gateway is used. */
const nextOf =
  (ctx: LabContext) =>
  (i: number): RequestSpec =>
    i % 3 === 0
      ? placeOrderSpec(ctx, ID)
      : i % 3 === 1
        ? { method: 'GET', path: '/v1/products' }
        : { method: 'GET', path: `/v1/payments?customerId=lab-${ID}`, auth: operator(ctx) };

const fiveXx = (s: Summary) =>
  Object.entries(s.statuses)
    .filter(([code]) => code.startsWith('5') || code === '0')
    .reduce((a, [, n]) => a + n, 0) / Math.max(1, s.count);

async function scrapeAll(ctx: LabContext): Promise<Record<ServiceName, Series[]>> {
  const out = {} as Record<ServiceName, Series[]>;
  for (const svc of SERVICE_NAMES) out[svc] = await ctx.metrics(svc);
  return out;
}

async function load(ctx: LabContext, seconds: number) {
  const before = await ctx.metrics('gateway');
  const samples = await drive(ctx.platform.edge, {
    durationMs: seconds * 1000,
    ratePerSecond: 10,
    maxInFlight: 20,
    next: nextOf(ctx),
  });
  const after = await ctx.metrics('gateway');
  const s = summarize(samples);
  const rejected = delta(before, after, 'tls_peer_verifications_total', { result: 'rejected' });
  const accepted = delta(before, after, 'tls_peer_verifications_total', { result: 'accepted' });
  ctx.say(`edge: ${fmtSummary(s)}`);
  ctx.say(`gateway server-certificate checks: +${accepted} accepted, +${rejected} rejected`);
  return { s, rejected, accepted, after };
}

const days = (ts: number) => ((ts - Date.now() / 1000) / DAY).toFixed(1);

export const certRotation: Lab = {
  id: ID,
  title: 'A certificate rotation to a new format meets a custom validator that only knows the old one',
  source: {
    document: 'seed',
    ref: 'scenario 1',
    title: 'Certificate rotation failures in the service mesh (mTLS)',
  },
  runsOn: ['local'],
  durationS: 60,
  restarts: true,
  async break(ctx) {
    const dir = certsDir(ctx);
    rmSync(dir, { recursive: true, force: true });
    // Before the rotation: every service has a certificate of the old CA in the old format.
    const oldCa = createCa(join(dir, 'ca-old'), 'legacy', 'shop-internal-ca');
    for (const svc of SERVICE_NAMES)
      installCerts(join(dir, svc), issueLeaf(oldCa, svc, join(dir, 'issued')), oldCa.pem);
    ctx.say(`old CA and RSA leaf certificates (CN = service name, DNS SAN, 365 days) in ${dir}`);
    // mTLS on, all four at once: each restart waits until the gateway is ready again, which it is once it and its
    // upstreams speak the same protocol.
    await Promise.all(SERVICE_NAMES.map((svc) => ctx.platform.restart(svc, tlsEnv(dir, svc))));
    // The custom validator the gateway has carried since before the mesh: fine with the old format.
    await ctx.setFault('gateway', 'legacy-cert-validator', {});
    const warm = summarize(
      await drive(ctx.platform.edge, {
        durationMs: 2000,
        ratePerSecond: 10,
        maxInFlight: 20,
        next: nextOf(ctx),
      }),
    );
    ctx.say(`with the old certificates and the legacy validator: ${fmtSummary(warm)}`);
    // The rotation, done the proper way: first every service trusts old and new CA, then the new leaves go out.
    const newCa: TestCa = createCa(join(dir, 'ca-new'), 'mesh', 'istio-ca');
    const bundle = oldCa.pem + newCa.pem;
    for (const svc of SERVICE_NAMES) installCaBundle(join(dir, svc), bundle);
    await sleep(RELOAD_MS * 3);
    const serials: Record<string, string> = {};
    for (const svc of SERVICE_NAMES) {
      const leaf = issueLeaf(newCa, svc, join(dir, 'issued'));
      installCerts(join(dir, svc), leaf, bundle);
      serials[svc] = leaf.serial;
    }
    ctx.state[ID] = { dir, rotatedAt: Date.now(), serials } satisfies State;
    ctx.say(
      'rotated: CA bundle old+new, then ECDSA P-256 leaves with an empty subject and a spiffe:// SAN (24 h)',
    );
    // Connections made before the rotation live until GRPC_TLS_MAX_CONNECTION_AGE_MS; new ones handshake afresh.
    await sleep(MAX_CONNECTION_AGE_MS * 2 + RELOAD_MS);
  },
  async observe(ctx): Promise<Check[]> {
    const st = stateOf(ctx);
    const since = st?.rotatedAt ?? Date.now();
    const m = await load(ctx, 6);
    const all = await scrapeAll(ctx);
    const reloaded = SERVICE_NAMES.filter(
      (svc) => sumOf(all[svc], 'tls_certificate_reloads_total', { result: 'success' }) >= 2,
    );
    const expiries = SERVICE_NAMES.map((svc) =>
      sumOf(all[svc], 'tls_certificate_expiry_timestamp_seconds', { role: 'identity' }),
    );
    const lines = (ctx.platform.logs('gateway', since) ?? []).filter(
      (l) => l.json?.code === 'TLS_PEER_REJECTED' && String(l.json.reason).startsWith('legacy_'),
    );
    if (lines[0]) ctx.say(`gateway log: ${String(lines[0].json?.msg)}`);
    ctx.say(
      'PromQL: sum by (peer, reason) (rate(tls_peer_verifications_total{result="rejected"}[1m])); (tls_certificate_expiry_timestamp_seconds{role="identity"} - time()) / 86400',
    );
    return [
      check(
        'edge 5xx (gateway -> upstreams: no handshake passes)',
        '>= 80%',
        `${pct(fiveXx(m.s))} ${JSON.stringify(m.s.statuses)}`,
        fiveXx(m.s) >= 0.8,
      ),
      check(
        'gateway tls_peer_verifications_total{result="rejected"}',
        '>= 3 more (handshakes refused by the validator)',
        `+${m.rejected}`,
        m.rejected >= 3,
      ),
      check(
        'gateway log lines TLS_PEER_REJECTED naming the legacy reason',
        '>= 1',
        `${lines.length} (${[...new Set(lines.map((l) => String(l.json?.reason)))].join(', ') || 'none'})`,
        lines.length >= 1,
      ),
      check(
        'tls_certificate_reloads_total{result="success"} per service (bundle, then leaf)',
        '>= 2 in each of the four',
        `${reloaded.length} of 4 (${reloaded.join(', ')})`,
        reloaded.length === 4,
      ),
      check(
        'tls_certificate_expiry_timestamp_seconds{role="identity"}: the new 24 h certificate loaded',
        'each < 2 days ahead',
        expiries.map((e, i) => `${SERVICE_NAMES[i]} ${days(e)} d`).join(', '),
        expiries.every((e) => e > 0 && e - Date.now() / 1000 < 2 * DAY),
      ),
    ];
  },
  async fix(ctx) {
    // The documented fix: the standard validation (chain against the CA bundle, then a SAN naming the peer), which
    // accepts both formats. The short-term alternative of the incident, restoring the previous certificates, would
    // mean putting the old leaves back into the same files: the services reload them the same way.
    await ctx.clearFault('gateway', 'legacy-cert-validator');
  },
  async verify(ctx): Promise<Check[]> {
    // Each refused subchannel retries with backoff of its own (grpc-js: 1 s growing x1.6); wait, bounded, until a read
    // through each upstream passes: inventory (the catalogue), orders and payments (the operator's listings).
    const reads: RequestSpec[] = [
      { method: 'GET', path: '/v1/products' },
      { method: 'GET', path: '/v1/orders?limit=1', auth: operator(ctx) },
      { method: 'GET', path: '/v1/payments?customerId=ops', auth: operator(ctx) },
    ];
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      const statuses = await Promise.all(reads.map((r) => request(ctx.platform.edge, r, 3000)));
      if (statuses.every((r) => r.status === 200)) break;
      await sleep(500);
    }
    const m = await load(ctx, 6);
    const peerExpiry = PEERS.map((p) =>
      sumOf(m.after, 'tls_peer_certificate_expiry_timestamp_seconds', { peer: p }),
    );
    return [
      check('edge 2xx', '>= 95%', `${pct(m.s.okRate)} ${JSON.stringify(m.s.statuses)}`, m.s.okRate >= 0.95),
      check(
        'gateway tls_peer_verifications_total{result="rejected"} during the load',
        '+0',
        `+${m.rejected} (accepted +${m.accepted})`,
        m.rejected === 0,
      ),
      check(
        'gateway tls_peer_certificate_expiry_timestamp_seconds: the upstreams present the new certificate',
        'each < 2 days ahead (the old ones: ~365)',
        PEERS.map((p, i) => `${p} ${days(peerExpiry[i] ?? 0)} d`).join(', '),
        peerExpiry.every((e) => e > 0 && e - Date.now() / 1000 < 2 * DAY),
      ),
    ];
  },
  async reset(ctx) {
    // A restart keeps runtime faults; the validator goes first so that the gateway does not come back with it.
    await ctx.clearFault('gateway', 'legacy-cert-validator').catch(() => undefined);
    // Back to plaintext, all at once (as in break).
    await Promise.all(
      SERVICE_NAMES.filter((svc) => hasTls(ctx, svc)).map((svc) => ctx.platform.restart(svc, {})),
    );
    const dir = stateOf(ctx)?.dir ?? (ctx.platform.stateDir ? certsDir(ctx) : undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  },
};
