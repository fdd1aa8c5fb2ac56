// Sign-in with OpenID Connect: authorization code + PKCE (S256) against the issuer of /console/config.json, as a
// public client (`shop-console`). The token stays in this tab's sessionStorage; the gateway verifies it.

const SESSION = 'shop.session';
const PENDING = 'shop.signin';

const b64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

async function discover(issuer) {
  const res = await fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`the issuer's discovery document answered ${res.status}`);
  return res.json();
}

const redirectUri = () => `${location.origin}/auth/callback`;

/** The claims of a JWT, for display only (the gateway verifies the signature, not this page). */
function claimsOf(jwt) {
  const part = jwt.split('.')[1] ?? '';
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

/** The signed-in session of this tab, or null (none, or expired). */
export function currentSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION) ?? 'null');
    if (!s || s.expiresAt <= Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

/** Sends the browser to the issuer's sign-in page. */
export async function signIn(config) {
  const d = await discover(config.issuer);
  const verifier = random(32);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = random(16);
  const nonce = random(16);
  sessionStorage.setItem(
    PENDING,
    JSON.stringify({ verifier, state, nonce, tokenEndpoint: d.token_endpoint }),
  );
  const url = new URL(d.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: config.clientId,
    response_type: 'code',
    redirect_uri: redirectUri(),
    scope: 'openid shop',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/** On /auth/callback: trades the code for tokens, then returns the session (or throws what went wrong). */
export async function completeSignIn(config) {
  const params = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null');
  sessionStorage.removeItem(PENDING);
  if (params.get('error'))
    throw new Error(`sign-in refused: ${params.get('error')} ${params.get('error_description') ?? ''}`);
  if (!pending || params.get('state') !== pending.state)
    throw new Error('sign-in could not be completed (the state did not match): sign in again');
  const res = await fetch(pending.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: redirectUri(),
      client_id: config.clientId,
      code_verifier: pending.verifier,
    }).toString(),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || typeof body.access_token !== 'string')
    throw new Error(
      `the issuer refused the sign-in code: ${body.error ?? res.status} ${body.error_description ?? ''}`,
    );
  const claims = claimsOf(body.access_token);
  const session = {
    token: body.access_token,
    idToken: body.id_token ?? null,
    expiresAt: Date.now() + Number(body.expires_in ?? 0) * 1000,
    customerId: String(claims.sub ?? ''),
    roles: Array.isArray(claims.roles) ? claims.roles.map(String) : [],
  };
  sessionStorage.setItem(SESSION, JSON.stringify(session));
  return session;
}

/** Forgets the session of this tab (the issuer's own session cookie ends with the browser). */
export function signOut() {
  sessionStorage.removeItem(SESSION);
}
