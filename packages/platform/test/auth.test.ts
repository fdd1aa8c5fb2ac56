import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Span } from '@opentelemetry/api';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { KeyServer, TestIssuer } from '@shop/testkit';
import { IdentityClient, foreignToken, keyServer, testIssuer, unsignedToken } from '@shop/testkit';
import type { TokenVerifier } from '../src';
import {
  AuthError,
  ConfigError,
  actingCustomer,
  authConfig,
  createAuthenticator,
  createLogger,
  createMetrics,
  createVerifier,
  loadConfig,
  VERIFIED_CACHE_TTL_MS,
  z,
} from '../src';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AuthError, `expected an AuthError, got ${String(err)}`);
    // The reason a 401 names never repeats the token.
    assert.doesNotMatch(err.message, /eyJ/);
    return err.reason;
  }
  assert.fail('expected the token to be refused');
}

describe('auth config', () => {
  const schema = z.object(authConfig());
  it('requires OIDC_ISSUER with AUTH_MODE=oidc (the default) and names it', () => {
    assert.throws(
      () => loadConfig(schema, {}),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.violations.length === 1 &&
        /^OIDC_ISSUER=not set/.test(err.violations[0] ?? ''),
    );
    const c = loadConfig(schema, { OIDC_ISSUER: 'http://127.0.0.1:8090' });
    assert.equal(c.AUTH_MODE, 'oidc');
    assert.equal(c.OIDC_AUDIENCE, 'shop-api');
    assert.equal(c.OIDC_CUSTOMER_CLAIM, 'sub');
    assert.equal(c.OIDC_ROLES_CLAIM, 'roles');
  });
  it('names a missing OIDC_ISSUER with the other violations of the same run', () => {
    const full = z.object({ ...authConfig(), PORT: z.string() });
    assert.throws(
      () => loadConfig(full, {}),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.violations.length === 2 &&
        err.violations.some((v) => v.startsWith('PORT=')) &&
        err.violations.some((v) => v.startsWith('OIDC_ISSUER=not set')),
    );
  });
  it('refuses bad values, all at once', () => {
    assert.throws(
      () => loadConfig(schema, { AUTH_MODE: 'none', OIDC_ISSUER: 'ftp://x', OIDC_CUSTOMER_CLAIM: 'a b' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        ['AUTH_MODE', 'OIDC_ISSUER', 'OIDC_CUSTOMER_CLAIM'].every((k) =>
          err.violations.some((v) => v.startsWith(k)),
        ),
    );
  });
  it('open mode needs no issuer and warns at start', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('auth-test', 'info', {
      write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>),
    });
    const auth = createAuthenticator(loadConfig(schema, { AUTH_MODE: 'open' }), { logger });
    assert.equal(auth.mode, 'open');
    assert.equal(await auth.authenticate(undefined), undefined);
    const warn = lines.find((l) => l.code === 'AUTH_OPEN');
    assert.equal(warn?.level, 'warn');
  });
});

describe('verifier against the real issuer', () => {
  let issuer: TestIssuer;
  let verifier: TokenVerifier;
  const metrics = createMetrics('auth-test');
  before(async () => {
    issuer = await testIssuer();
    verifier = createVerifier({ issuer: issuer.url, audience: 'shop-api', registry: metrics.registry });
  });
  after(() => issuer.stop());

  it('takes the customer and roles from a signed-in token', async () => {
    const alice = await verifier.verify(await issuer.client.token('alice', 'alice-demo'));
    assert.equal(alice.customerId, 'alice');
    assert.deepEqual(alice.roles, ['customer']);
    assert.equal(alice.operator, false);
    const ops = await verifier.verifyHeader(`Bearer ${await issuer.client.token('ops', 'ops-demo')}`);
    assert.equal(ops.customerId, 'ops');
    assert.equal(ops.operator, true);
  });

  it('refuses no token, another scheme, garbage, a foreign key and alg none', async () => {
    assert.equal(await refusal(verifier.verifyHeader(undefined)), 'missing_token');
    assert.equal(await refusal(verifier.verifyHeader('Basic YWxpY2U6eA==')), 'not_bearer');
    assert.equal(await refusal(verifier.verifyHeader('Bearer abc')), 'malformed');
    assert.equal(
      await refusal(verifier.verify(await foreignToken(issuer.url, { sub: 'alice' }))),
      'unknown_key',
    );
    assert.equal(
      await refusal(verifier.verify(unsignedToken(issuer.url, { sub: 'alice' }))),
      'bad_algorithm',
    );
    const counter = metrics.registry.getSingleMetric('auth_refusals_total');
    const values = counter ? (await counter.get()).values : [];
    const count = (reason: string) => values.find((v) => v.labels.reason === reason)?.value;
    assert.equal(count('unknown_key'), 1);
    assert.equal(count('missing_token'), 1);
    assert.equal(count('expired'), 0, 'every reason is exported from the start, at 0');
  });

  it('accepts a token of a rotated key without being recreated', async () => {
    const before = await issuer.client.token('bob', 'bob-demo');
    await verifier.verify(before);
    await issuer.rotateKeys();
    const fresh = new IdentityClient(issuer.url);
    const after = await fresh.token('bob', 'bob-demo');
    const kid = (t: string) =>
      (JSON.parse(Buffer.from(t.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid;
    assert.notEqual(kid(after), kid(before), 'the issuer signs with the new key');
    // The JWKS was fetched moments ago; an unknown kid refetches it after the 1 s cooldown.
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await verifier.verify(after)).customerId, 'bob');
    assert.equal((await verifier.verify(before)).customerId, 'bob', 'the old key is still published');
  });
});

describe('verifier claims checks (tokens signed by a key server of the test)', () => {
  let keys: KeyServer;
  let verifier: TokenVerifier;
  before(async () => {
    keys = await keyServer();
    verifier = createVerifier({ issuer: keys.url, audience: 'shop-api' });
  });
  after(() => keys.stop());

  it('accepts ES256 and RS256', async () => {
    assert.equal((await verifier.verify(await keys.mint({ sub: 'carol' }))).customerId, 'carol');
    assert.equal(
      (await verifier.verify(await keys.mint({ sub: 'carol' }, { alg: 'RS256' }))).customerId,
      'carol',
    );
  });
  it('refuses expired, wrong audience, wrong issuer, wrong typ, bad claims', async () => {
    assert.equal(
      await refusal(verifier.verify(await keys.mint({ sub: 'c' }, { expiresIn: -60 }))),
      'expired',
    );
    assert.equal(
      await refusal(verifier.verify(await keys.mint({ sub: 'c' }, { audience: 'other' }))),
      'wrong_audience',
    );
    assert.equal(
      await refusal(verifier.verify(await keys.mint({ sub: 'c' }, { issuer: 'http://127.0.0.1:1' }))),
      'wrong_issuer',
    );
    assert.equal(await refusal(verifier.verify(await keys.mint({ sub: 'c' }, { typ: 'JWT' }))), 'wrong_type');
    assert.equal(await refusal(verifier.verify(await keys.mint({ sub: 'has space' }))), 'bad_claims');
    assert.equal(await refusal(verifier.verify(await keys.mint({ sub: 'c', roles: [1] }))), 'bad_claims');
  });
  it("puts the caller's role on the active span, never the token nor the customer id", async () => {
    const attributes: Record<string, unknown> = {};
    const span = {
      spanContext: () => ({ traceId: '0'.repeat(31) + '1', spanId: '0'.repeat(15) + '1', traceFlags: 1 }),
      setAttribute(key: string, value: unknown) {
        attributes[key] = value;
        return this;
      },
      isRecording: () => true,
    } as unknown as Span;
    const token = await keys.mint({ sub: 'dave', roles: ['operator'] });
    await context.with(trace.setSpan(context.active(), span), () => verifier.verify(token));
    assert.ok(
      !Object.values(attributes).some((v) => String(v).includes('dave')),
      'the customer id is on the span',
    );
    assert.equal(attributes['enduser.role'], 'operator');
    assert.ok(!Object.values(attributes).some((v) => String(v).includes(token.slice(0, 20))));
  });
  it('a token within the clock tolerance is still valid', async () => {
    assert.equal((await verifier.verify(await keys.mint({ sub: 'c' }, { expiresIn: -2 }))).customerId, 'c');
  });
  it('checks the signature of a token once, then answers from a bounded cache until exp or the cache TTL', async () => {
    let clock = Date.now();
    const v = createVerifier({ issuer: keys.url, audience: 'shop-api', cacheSize: 2, now: () => clock });
    const erin = await keys.mint({ sub: 'erin', roles: ['customer'] });
    assert.equal((await v.verify(erin)).customerId, 'erin');
    const again = await v.verify(erin);
    assert.equal(again.customerId, 'erin');
    assert.deepEqual(again.roles, ['customer']);
    assert.deepEqual(v.cacheStats(), { hits: 1, misses: 1, size: 1 });
    // A changed byte is another token: verified (and refused) on its own.
    const tampered = `${erin.slice(0, -2)}${erin.endsWith('A') ? 'B' : 'A'}${erin.slice(-1)}`;
    assert.equal(await refusal(v.verify(tampered)), 'bad_signature');
    assert.equal(await refusal(v.verify(tampered)), 'bad_signature');
    assert.equal(v.cacheStats().size, 1, 'a refused token is never cached');
    // Bounded: a third token evicts the least recently used one.
    const f = await keys.mint({ sub: 'frank' });
    const g = await keys.mint({ sub: 'gina' });
    await v.verify(f);
    await v.verify(g);
    assert.equal(v.cacheStats().size, 2);
    const misses = v.cacheStats().misses;
    await v.verify(erin);
    assert.equal(v.cacheStats().misses, misses + 1, 'erin was evicted and verified again');
    // Past the TTL the token is verified again (a withdrawn key stops being honoured within the TTL).
    clock += VERIFIED_CACHE_TTL_MS + 1;
    await v.verify(erin);
    assert.equal(v.cacheStats().misses, misses + 2);
    // Kept no longer than its exp: at exp (by the cache's clock) the token goes back to jose, which decides.
    const brief = await keys.mint({ sub: 'hal' }, { expiresIn: 1 });
    clock = Date.now();
    await v.verify(brief);
    await v.verify(brief);
    const before = v.cacheStats();
    clock = Date.now() + 1000;
    await v.verify(brief);
    assert.deepEqual(
      [v.cacheStats().hits, v.cacheStats().misses],
      [before.hits, before.misses + 1],
      'verified again at its exp',
    );
  });
  it('an unreachable issuer is issuer_unavailable (503), not 401', async () => {
    const down = createVerifier({ issuer: 'http://127.0.0.1:9', audience: 'shop-api' });
    const err = await down.verify(await keys.mint({ sub: 'c' })).catch((e: unknown) => e);
    assert.ok(err instanceof AuthError);
    assert.equal(err.reason, 'issuer_unavailable');
    assert.equal(err.status, 503);
  });
});

describe('actingCustomer', () => {
  const alice = { customerId: 'alice', roles: ['customer'], operator: false, token: 't' };
  const ops = { customerId: 'ops', roles: ['operator'], operator: true, token: 't' };
  it('scopes a customer to itself and lets an operator name anyone', () => {
    assert.equal(actingCustomer(alice, undefined), 'alice');
    assert.equal(actingCustomer(alice, 'alice'), 'alice');
    assert.throws(
      () => actingCustomer(alice, 'bob'),
      (e: unknown) => e instanceof AuthError && e.status === 403,
    );
    assert.equal(actingCustomer(ops, 'bob'), 'bob');
    assert.equal(actingCustomer(ops, undefined), undefined);
    assert.equal(actingCustomer(undefined, 'bob'), 'bob');
  });
});
