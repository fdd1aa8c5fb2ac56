// Signing in as a browser does: the authorization code flow with PKCE (S256) through the issuer's own login form.
// No dependencies beyond Node (and @shop/contracts/rules), so that tests, the load tools and the labs can use it (via @shop/testkit) without the
// provider. Works against any issuer whose login page is this package's (form id="login", fields username/password).
import { createHash, randomBytes } from 'node:crypto';

export { DEMO_ACCOUNTS } from './accounts';

export const DEFAULT_CLIENT_ID = 'shop-cli';
export const DEFAULT_REDIRECT_URI = 'http://127.0.0.1/callback';
export const DEFAULT_SCOPE = 'openid shop';

export interface TokenSet {
  accessToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  idToken?: string;
  refreshToken?: string;
  scope?: string;
}

/** The issuer refused the name or the password (its login page answered 401). */
export class LoginRefusedError extends Error {
  constructor(readonly username: string) {
    super(`the issuer refused the sign-in of ${username}: wrong username or password`);
  }
}

export interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  end_session_endpoint?: string;
}

const discoveries = new Map<string, Promise<Discovery>>();

/** The issuer's `/.well-known/openid-configuration` (cached per issuer). */
export function discover(issuer: string): Promise<Discovery> {
  const base = issuer.replace(/\/+$/, '');
  let d = discoveries.get(base);
  if (!d) {
    d = (async () => {
      const res = await fetch(`${base}/.well-known/openid-configuration`, {
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`${base}: discovery answered ${res.status}`);
      return (await res.json()) as Discovery;
    })();
    d.catch(() => discoveries.delete(base));
    discoveries.set(base, d);
  }
  return d;
}

class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k = '', v = ''] = a.split('=');
        const key = k.trim().toLowerCase();
        return (key === 'max-age' && Number(v) <= 0) || (key === 'expires' && Date.parse(v) < Date.now());
      });
      if (expired || !value) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }
}

const MAX_HOPS = 10;

/** Signs `username` in with its password; throws LoginRefusedError when the issuer refuses them. */
export async function passwordLogin(opts: {
  issuer: string;
  username: string;
  password: string;
  clientId?: string;
  redirectUri?: string;
  scope?: string;
}): Promise<TokenSet> {
  const d = await discover(opts.issuer);
  const clientId = opts.clientId ?? DEFAULT_CLIENT_ID;
  const redirectUri = opts.redirectUri ?? DEFAULT_REDIRECT_URI;
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const jar = new CookieJar();
  const auth = new URL(d.authorization_endpoint);
  auth.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: opts.scope ?? DEFAULT_SCOPE,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();

  const request = async (url: string, init: RequestInit = {}) => {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...jar.header(), ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(15_000),
    });
    jar.take(res);
    return res;
  };

  let url = auth.toString();
  let res = await request(url);
  let submitted = false;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      const next = new URL(location, url);
      if (next.href.startsWith(redirectUri)) return exchange(next);
      url = next.href;
      res = await request(url);
      continue;
    }
    const html = await res.text();
    if (res.status === 401 && submitted) throw new LoginRefusedError(opts.username);
    const action = /<form\b[^>]*\bid="login"[^>]*\baction="([^"]+)"/.exec(html)?.[1];
    if (res.status !== 200 || !action || submitted)
      throw new Error(
        `sign-in of ${opts.username}: unexpected answer ${res.status} from ${url}: ${html.slice(0, 300)}`,
      );
    submitted = true;
    url = new URL(action.replace(/&amp;/g, '&'), url).href;
    res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: opts.username, password: opts.password }).toString(),
    });
  }
  throw new Error(`sign-in of ${opts.username}: more than ${MAX_HOPS} redirects`);

  async function exchange(callback: URL): Promise<TokenSet> {
    const error = callback.searchParams.get('error');
    if (error)
      throw new Error(
        `sign-in of ${opts.username}: ${error}: ${callback.searchParams.get('error_description') ?? ''}`,
      );
    if (callback.searchParams.get('state') !== state) throw new Error('sign-in: the state came back changed');
    const code = callback.searchParams.get('code');
    if (!code) throw new Error('sign-in: no code in the redirect');
    const token = await fetch(d.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        client_id: clientId,
        code_verifier: verifier,
      }).toString(),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await token.json()) as Record<string, unknown>;
    if (!token.ok || typeof body.access_token !== 'string')
      throw new Error(`token endpoint answered ${token.status}: ${JSON.stringify(body)}`);
    return {
      accessToken: body.access_token,
      expiresAt: Date.now() + Number(body.expires_in ?? 0) * 1000,
      ...(typeof body.id_token === 'string' ? { idToken: body.id_token } : {}),
      ...(typeof body.refresh_token === 'string' ? { refreshToken: body.refresh_token } : {}),
      ...(typeof body.scope === 'string' ? { scope: body.scope } : {}),
    };
  }
}

/** Registers a customer (`POST /accounts`); throws with the issuer's problem detail on 400/409. */
export async function registerAccount(issuer: string, username: string, password: string): Promise<void> {
  const res = await fetch(`${issuer.replace(/\/+$/, '')}/accounts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
    signal: AbortSignal.timeout(15_000),
  });
  if (res.status === 201) return void (await res.body?.cancel());
  const text = await res.text();
  const err = new Error(`registering ${username} answered ${res.status}: ${text}`) as Error & {
    status: number;
  };
  err.status = res.status;
  throw err;
}
