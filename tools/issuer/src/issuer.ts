import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { AccountError, AccountStore, validateSignUp, type Account } from './accounts';
import { KeyStore } from './keys';
import { errorPage, loginPage, type FieldErrors } from './pages';
import { memoryAdapter, MemoryStore } from './store';

/** The audience of every access token the issuer gives out, and the resource indicator that names it. */
export const AUDIENCE = 'shop-api';
export const RESOURCE = 'urn:shop-api';
/** The scope of the shop API; clients ask for `openid shop` (any request gets it: it is the default resource). */
export const API_SCOPE = 'shop';
export const ACCESS_TOKEN_TTL_S = 15 * 60;

export const CONSOLE_CLIENT = 'shop-console';
export const CLI_CLIENT = 'shop-cli';
/** The loopback redirect of the native client (RFC 8252 §7.3: any port on 127.0.0.1 matches). */
export const CLI_REDIRECT_URI = 'http://127.0.0.1/callback';
export const DEFAULT_CONSOLE_ORIGINS = ['http://127.0.0.1:8080'];

export interface IssuerOptions {
  /** 0 (the default) = a free port. */
  port?: number;
  host?: string;
  /** Where keys and accounts persist; a fresh temporary directory (removed by stop) when absent. */
  stateDir?: string;
  /** Origins of the web console: `<origin>/auth/callback` is a redirect URI of `shop-console`. */
  consoleOrigins?: string[];
  /** The issuer identifier when it differs from `http://<host>:<port>` (behind a proxy). */
  url?: string;
  /** One JSON log line per event; silent when absent. */
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export interface RunningIssuer {
  url: string;
  /** A new signing key signs from now on; the previous keys stay in the JWKS until their tokens expired. */
  rotateKeys(): Promise<void>;
  stop(): Promise<void>;
}

const BODY_LIMIT = 16 * 1024;

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new BodyTooLarge('request body over 16 KiB');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function problem(
  res: ServerResponse,
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  send(
    res,
    status,
    'application/problem+json',
    JSON.stringify({ type: 'about:blank', title, status, detail, ...extra }),
    headers,
  );
}

function fieldErrors(errs: AccountError[]): FieldErrors {
  const out: FieldErrors = {};
  for (const e of errs) out[e.field] ??= e.reason;
  return out;
}

/** Starts an issuer in this process. */
export async function startIssuer(opts: IssuerOptions = {}): Promise<RunningIssuer> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? (() => undefined);
  const tempState = opts.stateDir ? undefined : mkdtempSync(join(tmpdir(), 'shop-issuer-'));
  const stateDir = opts.stateDir ?? tempState ?? '';
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const consoleOrigins = (opts.consoleOrigins?.length ? opts.consoleOrigins : DEFAULT_CONSOLE_ORIGINS).map(
    (o) => o.replace(/\/+$/, ''),
  );
  const accounts = await AccountStore.open(stateDir);
  const keys = KeyStore.open(stateDir);
  // Sessions, interactions, codes and grants: this issuer's memory, kept when a rotation rebuilds the provider.
  const store = new MemoryStore();

  let provider: Provider | undefined;
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log('error', 'request failed', { path: req.url, err: (err as Error).message });
      if (!res.headersSent)
        problem(res, 500, 'Internal Server Error', 'the issuer could not handle the request');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = (opts.url ?? `http://${host}:${port}`).replace(/\/+$/, '');

  const configuration = (): Configuration => ({
    adapter: memoryAdapter(store),
    clients: [
      {
        client_id: CONSOLE_CLIENT,
        client_name: 'Shop console',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: consoleOrigins.map((o) => `${o}/auth/callback`),
        post_logout_redirect_uris: consoleOrigins.map((o) => `${o}/`),
        id_token_signed_response_alg: 'ES256',
      },
      {
        client_id: CLI_CLIENT,
        client_name: 'Shop command line',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [CLI_REDIRECT_URI],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    findAccount: (_ctx, sub) => {
      const account = accounts.find(sub);
      if (!account) return undefined;
      return {
        accountId: account.username,
        claims: () => ({ sub: account.username, preferred_username: account.username, roles: account.roles }),
      };
    },
    claims: { openid: ['sub'], profile: ['preferred_username', 'roles'] },
    scopes: ['openid', 'profile', 'offline_access'],
    jwks: keys.jwks(),
    cookies: { keys: keys.cookieSecrets },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Every authorization is for the shop API, whether or not the client names it.
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== RESOURCE) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return {
            scope: API_SCOPE,
            audience: AUDIENCE,
            accessTokenTTL: ACCESS_TOKEN_TTL_S,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const accountId = (token as { accountId?: string }).accountId;
      const account = accountId ? accounts.find(accountId) : undefined;
      return account ? { roles: account.roles } : undefined;
    },
    // Both clients are first-party: consent is granted without asking (see the interaction handler).
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const grantId =
        (ctx.oidc.result?.consent as { grantId?: string } | undefined)?.grantId ??
        ctx.oidc.session?.grantIdFor(ctx.oidc.client?.clientId ?? '');
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    clientBasedCORS: (_ctx, origin, client) =>
      client.clientId === CONSOLE_CLIENT && consoleOrigins.includes(origin),
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage('Sign-in failed', `${out.error}: ${out.error_description ?? ''}`);
    },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL_S,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 15 * 60,
      Session: 8 * 3600,
      Grant: 8 * 3600,
      RefreshToken: 8 * 3600,
    },
  });

  const build = () => {
    const p = new Provider(url, configuration());
    // Behind a reverse proxy (ISSUER_URL differs), trust its X-Forwarded-* headers.
    if (opts.url) p.proxy = true;
    p.on('server_error', (_ctx, err) => log('error', 'provider error', { err: err.message }));
    return p;
  };
  provider = build();

  const cors = (req: IncomingMessage): Record<string, string> => {
    const origin = req.headers.origin;
    return origin && consoleOrigins.includes(origin)
      ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' }
      : {};
  };

  async function signUp(req: IncomingMessage, res: ServerResponse) {
    const headers = cors(req);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...headers,
        'Access-Control-Allow-Methods': 'POST',
        'Access-Control-Allow-Headers': 'Content-Type',
        'Access-Control-Max-Age': '600',
      });
      return void res.end();
    }
    if (req.method !== 'POST')
      return problem(
        res,
        405,
        'Method Not Allowed',
        'POST /accounts registers a customer',
        {},
        { ...headers, Allow: 'POST' },
      );
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
      return problem(
        res,
        415,
        'Unsupported Media Type',
        'send {"username","password"} as application/json',
        {},
        headers,
      );
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      if (err instanceof BodyTooLarge)
        return problem(res, 413, 'Payload Too Large', err.message, {}, headers);
      return problem(res, 400, 'Bad Request', 'the body is not JSON', {}, headers);
    }
    const { username, password } = (body ?? {}) as Record<string, unknown>;
    const invalid = validateSignUp(username, password);
    if (invalid.length)
      return problem(
        res,
        400,
        'Bad Request',
        invalid.map((e) => e.message).join('; '),
        { 'invalid-params': invalid.map((e) => ({ name: e.field, reason: e.reason })) },
        headers,
      );
    try {
      const account = await accounts.register(username, password);
      log('info', 'account registered', { username: account.username });
      send(
        res,
        201,
        'application/json',
        JSON.stringify({ username: account.username, roles: account.roles }),
        {
          ...headers,
          Location: `/accounts/${encodeURIComponent(account.username)}`,
        },
      );
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      problem(
        res,
        err.status,
        err.status === 409 ? 'Conflict' : 'Bad Request',
        err.message,
        { 'invalid-params': [{ name: err.field, reason: err.reason }] },
        headers,
      );
    }
  }

  async function interaction(
    req: IncomingMessage,
    res: ServerResponse,
    uid: string,
    action: string | undefined,
  ) {
    const p = provider as Provider;
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await p.interactionDetails(req, res);
    } catch {
      return send(
        res,
        400,
        'text/html; charset=utf-8',
        errorPage(
          'Sign-in expired',
          'This sign-in page is no longer valid. Go back to the application and sign in again.',
        ),
      );
    }
    if (details.uid !== uid)
      return send(
        res,
        400,
        'text/html; charset=utf-8',
        errorPage('Sign-in expired', 'Start the sign-in again.'),
      );
    const client = await p.Client.find(String(details.params.client_id));
    const clientName = client?.clientName ?? String(details.params.client_id);

    if (details.prompt.name === 'consent') {
      // First-party clients: grant what they asked for, without a consent screen.
      const grant = details.grantId
        ? ((await p.Grant.find(details.grantId)) as InstanceType<Provider['Grant']>)
        : new p.Grant({ accountId: details.session?.accountId, clientId: String(details.params.client_id) });
      const missing = details.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {}))
        grant.addResourceScope(indicator, scopes.join(' '));
      const grantId = await grant.save();
      return p.interactionFinished(
        req,
        res,
        { consent: details.grantId ? {} : { grantId } },
        { mergeWithLastSubmission: true },
      );
    }

    if (req.method === 'GET' && !action)
      return send(res, 200, 'text/html; charset=utf-8', loginPage({ uid, clientName }));
    if (req.method !== 'POST' || (action !== 'login' && action !== 'signup'))
      return send(res, 405, 'text/html; charset=utf-8', errorPage('Not allowed', 'Use the sign-in form.'));

    let form: URLSearchParams;
    try {
      form = new URLSearchParams(await readBody(req));
    } catch {
      return send(res, 413, 'text/html; charset=utf-8', errorPage('Too large', 'The form was too large.'));
    }
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    let account: Account | undefined;
    if (action === 'login') {
      const errs: FieldErrors = {};
      if (!username) errs.username = 'is required';
      if (!password) errs.password = 'is required';
      if (!errs.username && !errs.password) {
        account = await accounts.authenticate(username, password);
        if (!account) errs.form = 'The username or the password is wrong.';
      }
      if (!account) {
        log('info', 'sign-in refused', { username });
        return send(
          res,
          401,
          'text/html; charset=utf-8',
          loginPage({ uid, clientName, login: { username, errors: errs } }),
        );
      }
    } else {
      try {
        account = await accounts.register(username, password);
        log('info', 'account registered', { username: account.username });
      } catch (err) {
        if (!(err instanceof AccountError)) throw err;
        const invalid = err.status === 400 ? validateSignUp(username, password) : [err];
        return send(
          res,
          err.status,
          'text/html; charset=utf-8',
          loginPage({ uid, clientName, signup: { username, errors: fieldErrors(invalid) } }),
        );
      }
    }
    log('info', 'signed in', { username: account.username, client: details.params.client_id });
    await p.interactionFinished(
      req,
      res,
      { login: { accountId: account.username } },
      { mergeWithLastSubmission: false },
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/healthz') return send(res, 200, 'text/plain', 'ok');
    if (path === '/accounts') return signUp(req, res);
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|signup))?$/.exec(path);
    if (m) return interaction(req, res, m[1] as string, m[2]);
    await (provider as Provider).callback()(req, res);
  }

  log('info', 'issuer listening', {
    url,
    stateDir: tempState ? '(temporary)' : stateDir,
    kid: keys.currentKid,
  });
  return {
    url,
    rotateKeys() {
      const kid = keys.rotate();
      // The provider reads its keys once: a new one takes over from here (sessions, codes and grants are in this
      // issuer's store and carry over).
      provider = build();
      log('info', 'signing key rotated', { kid, published: keys.jwks().keys.map((k) => k.kid) });
      return Promise.resolve();
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (tempState) rmSync(tempState, { recursive: true, force: true });
    },
  };
}
