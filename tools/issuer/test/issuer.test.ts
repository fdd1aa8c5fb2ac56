import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { CUSTOMER_ID } from '@shop/contracts/rules';
import { LoginRefusedError, passwordLogin } from '../src/client';
import { startIssuer, type RunningIssuer } from '../src/issuer';

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function verify(issuer: string, token: string) {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  return jwtVerify(token, jwks, { issuer, audience: 'shop-api', typ: 'at+jwt', algorithms: ['ES256'] });
}

describe('issuer', () => {
  let stateDir: string;
  let issuer: RunningIssuer;

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'issuer-test-'));
    issuer = await startIssuer({ port: 0, stateDir, consoleOrigins: ['http://127.0.0.1:18080'] });
  });
  after(async () => {
    await issuer?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('publishes its discovery document and JWKS', async () => {
    const d = (await (await fetch(`${issuer.url}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(d.issuer, issuer.url);
    assert.ok(String(d.jwks_uri).startsWith(issuer.url));
    assert.ok((d.code_challenge_methods_supported as string[]).includes('S256'));
    const jwks = (await (await fetch(String(d.jwks_uri))).json()) as { keys: Record<string, unknown>[] };
    assert.ok(jwks.keys.length >= 1);
    for (const k of jwks.keys) {
      assert.equal(k.kty, 'EC');
      assert.equal(k.crv, 'P-256');
      assert.equal(k.d, undefined, 'no private part published');
    }
  });

  it('signs a customer in (code + PKCE through the login form) with an RFC 9068 access token', async () => {
    const set = await passwordLogin({ issuer: issuer.url, username: 'alice', password: 'alice-demo' });
    assert.equal(decodeProtectedHeader(set.accessToken).typ, 'at+jwt');
    assert.equal(decodeProtectedHeader(set.accessToken).alg, 'ES256');
    const { payload } = await verify(issuer.url, set.accessToken);
    assert.equal(payload.sub, 'alice');
    assert.ok(CUSTOMER_ID.pattern.test(String(payload.sub)));
    assert.equal(payload.aud, 'shop-api');
    assert.equal(payload.client_id, 'shop-cli');
    assert.deepEqual(payload.roles, ['customer']);
    assert.equal(payload.scope, 'shop');
    assert.equal(typeof payload.jti, 'string');
    assert.equal((payload.exp as number) - (payload.iat as number), 15 * 60);
  });

  it('gives the operator the operator role', async () => {
    const set = await passwordLogin({ issuer: issuer.url, username: 'ops', password: 'ops-demo' });
    const { payload } = await verify(issuer.url, set.accessToken);
    assert.equal(payload.sub, 'ops');
    assert.deepEqual(payload.roles, ['operator']);
  });

  it('refuses a wrong password and an unknown account (no token)', async () => {
    await assert.rejects(
      passwordLogin({ issuer: issuer.url, username: 'alice', password: 'bob-demo' }),
      LoginRefusedError,
    );
    await assert.rejects(
      passwordLogin({ issuer: issuer.url, username: 'nobody', password: 'whatever-1' }),
      LoginRefusedError,
    );
  });

  it('serves an accessible login form that names the error', async () => {
    // Start an authorization as a browser would, then submit a wrong password.
    const d = (await (await fetch(`${issuer.url}/.well-known/openid-configuration`)).json()) as {
      authorization_endpoint: string;
    };
    const auth = new URL(d.authorization_endpoint);
    auth.search = new URLSearchParams({
      client_id: 'shop-console',
      response_type: 'code',
      redirect_uri: 'http://127.0.0.1:18080/auth/callback',
      scope: 'openid shop',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    const first = await fetch(auth, { redirect: 'manual' });
    assert.equal(first.status, 303);
    const cookies = first.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const page = new URL(first.headers.get('location') as string, issuer.url);
    const form = await fetch(page, { headers: { cookie: cookies } });
    assert.equal(form.status, 200);
    const html = await form.text();
    assert.match(html, /<html lang="en">/);
    assert.match(html, /<label for="login-username">Username<\/label>/);
    assert.match(html, /<label for="login-password">Password<\/label>/);
    assert.match(html, /Shop console/);
    const refused = await fetch(`${page.href}/login`, {
      method: 'POST',
      headers: { cookie: cookies, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=alice&password=wrong-password',
      redirect: 'manual',
    });
    assert.equal(refused.status, 401);
    const again = await refused.text();
    assert.match(again, /role="alert"/);
    assert.match(again, /username or the password is wrong/);
    assert.match(again, /value="alice"/);
  });

  it('registers customers and refuses bad names, short passwords, taken names (never an operator)', async () => {
    const name = `test-${Date.now()}`;
    const created = await post(`${issuer.url}/accounts`, { username: name, password: 'long-enough' });
    assert.equal(created.status, 201);
    assert.deepEqual(await created.json(), { username: name, roles: ['customer'] });

    const taken = await post(`${issuer.url}/accounts`, { username: name, password: 'another-one' });
    assert.equal(taken.status, 409);
    assert.match(taken.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(
      ((await taken.json()) as { 'invalid-params': { name: string }[] })['invalid-params'][0]?.name,
      'username',
    );

    const seeded = await post(`${issuer.url}/accounts`, { username: 'ops', password: 'take-over-ops' });
    assert.equal(seeded.status, 409, 'the operator account cannot be registered again');

    const badName = await post(`${issuer.url}/accounts`, { username: 'has space', password: 'long-enough' });
    assert.equal(badName.status, 400);
    const badBody = (await badName.json()) as { 'invalid-params': { name: string; reason: string }[] };
    assert.deepEqual(badBody['invalid-params'], [{ name: 'username', reason: CUSTOMER_ID.message }]);

    const short = await post(`${issuer.url}/accounts`, { username: `${name}-2`, password: 'short' });
    assert.equal(short.status, 400);
    assert.equal(
      ((await short.json()) as { 'invalid-params': { name: string }[] })['invalid-params'][0]?.name,
      'password',
    );

    const both = await post(`${issuer.url}/accounts`, { username: '', password: 1 });
    assert.deepEqual(
      ((await both.json()) as { 'invalid-params': { name: string }[] })['invalid-params'].map((p) => p.name),
      ['username', 'password'],
    );

    // Even asking for it, sign-up gives the customer role only.
    const sneaky = await post(`${issuer.url}/accounts`, {
      username: `${name}-3`,
      password: 'long-enough',
      roles: ['operator'],
    });
    assert.equal(sneaky.status, 201);
    const set = await passwordLogin({ issuer: issuer.url, username: `${name}-3`, password: 'long-enough' });
    const { payload } = await verify(issuer.url, set.accessToken);
    assert.equal(payload.sub, `${name}-3`);
    assert.deepEqual(payload.roles, ['customer']);
  });

  it('stores passwords hashed with scrypt, not in the clear', async () => {
    const { readFileSync } = await import('node:fs');
    const file = join(stateDir, 'accounts.json');
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes('alice-demo'));
    assert.match(text, /"password": "scrypt\$16384\$8\$1\$/);
    assert.equal(statSync(file).mode & 0o077, 0, 'accounts are readable by their owner only');
  });

  it('rotation: a new key signs, the old one stays published and old tokens still verify', async () => {
    const old = await passwordLogin({ issuer: issuer.url, username: 'bob', password: 'bob-demo' });
    const oldKid = decodeProtectedHeader(old.accessToken).kid;
    await issuer.rotateKeys();
    const jwks = (await (await fetch(`${issuer.url}/jwks`)).json()) as { keys: { kid: string }[] };
    const kids = jwks.keys.map((k) => k.kid);
    assert.ok(kids.includes(oldKid as string), 'the previous key is still published');
    assert.ok(kids.length >= 2);
    const fresh = await passwordLogin({ issuer: issuer.url, username: 'bob', password: 'bob-demo' });
    const newKid = decodeProtectedHeader(fresh.accessToken).kid;
    assert.notEqual(newKid, oldKid, 'the new key signs');
    assert.equal(kids[0], newKid);
    await verify(issuer.url, old.accessToken);
    await verify(issuer.url, fresh.accessToken);
  });

  it('many sign-ins at once all succeed, each with its own token', async () => {
    const sets = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        passwordLogin({
          issuer: issuer.url,
          username: i % 2 ? 'alice' : 'bob',
          password: i % 2 ? 'alice-demo' : 'bob-demo',
        }),
      ),
    );
    assert.equal(new Set(sets.map((t) => t.accessToken)).size, 30);
    for (const [i, t] of sets.entries())
      assert.equal((await verify(issuer.url, t.accessToken)).payload.sub, i % 2 ? 'alice' : 'bob');
  });

  it('keeps keys and accounts across a restart with the same state directory', async () => {
    const name = `restart-${Date.now()}`;
    assert.equal(
      (await post(`${issuer.url}/accounts`, { username: name, password: 'survives-1' })).status,
      201,
    );
    const before = await passwordLogin({ issuer: issuer.url, username: 'alice', password: 'alice-demo' });
    const kidsBefore = (
      (await (await fetch(`${issuer.url}/jwks`)).json()) as { keys: { kid: string }[] }
    ).keys.map((k) => k.kid);
    await issuer.stop();
    issuer = await startIssuer({ port: 0, stateDir });
    const kidsAfter = (
      (await (await fetch(`${issuer.url}/jwks`)).json()) as { keys: { kid: string }[] }
    ).keys.map((k) => k.kid);
    assert.deepEqual(kidsAfter, kidsBefore);
    const after = await passwordLogin({ issuer: issuer.url, username: name, password: 'survives-1' });
    assert.equal(decodeProtectedHeader(after.accessToken).kid, decodeProtectedHeader(before.accessToken).kid);
    // A token from before the restart verifies against the new process's JWKS (issuer differs only by port here).
    const jwks = createRemoteJWKSet(new URL(`${issuer.url}/jwks`));
    await jwtVerify(before.accessToken, jwks, { audience: 'shop-api' });
  });
});
