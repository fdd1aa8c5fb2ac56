import { randomBytes } from 'node:crypto';
import { passwordLogin, registerAccount, type TokenSet } from '@shop/issuer/client';
import { uniqueCustomer } from './index';

/** One signed-in account: its customer id (the token's `sub`) and its access token, renewed before expiry. */
export interface Identity {
  customerId: string;
  /** A valid access token (JWT); signs in on first use and again a minute before the token expires. */
  token(): Promise<string>;
  /** `{ authorization: 'Bearer <token>' }` for a request. */
  headers(): Promise<Record<string, string>>;
}

/** The operator account every issuer seeds (tools/issuer DEMO_ACCOUNTS). */
export const OPERATOR = { username: 'ops', password: 'ops-demo' } as const;

const RENEW_BEFORE_MS = 60_000;

/**
 * Signs accounts in at a real issuer (tools/issuer) the way a browser does: authorization code + PKCE through the
 * issuer's login form. Tokens are cached per account and renewed before they expire.
 */
export class IdentityClient {
  private readonly tokens = new Map<string, { password: string; pending: Promise<TokenSet> }>();

  constructor(readonly issuerUrl: string) {}

  /** Registers a customer account (`POST /accounts`); throws on 400/409. */
  register(username: string, password: string): Promise<void> {
    return registerAccount(this.issuerUrl, username, password);
  }

  /** An access token for `username`: cached, renewed a minute before expiry. */
  async token(username: string, password: string): Promise<string> {
    const cached = this.tokens.get(username);
    if (cached && cached.password === password) {
      const set = await cached.pending.catch(() => undefined);
      if (set && set.expiresAt - Date.now() > RENEW_BEFORE_MS) return set.accessToken;
      if (this.tokens.get(username) !== cached) return this.token(username, password);
    }
    const pending = passwordLogin({ issuer: this.issuerUrl, username, password });
    this.tokens.set(username, { password, pending });
    pending.catch(() => {
      if (this.tokens.get(username)?.pending === pending) this.tokens.delete(username);
    });
    return (await pending).accessToken;
  }

  /** An existing account (a seeded demo account, or one registered before). */
  account(username: string, password: string): Identity {
    return {
      customerId: username,
      token: () => this.token(username, password),
      headers: async () => ({ authorization: `Bearer ${await this.token(username, password)}` }),
    };
  }

  /**
   * A fresh customer (`<prefix>-<random>`), registered at the issuer on first use: its own credit limit, no
   * orders of other tests. Synchronous, so `identity.customer('x').customerId` is known at once (awaiting the
   * result works too).
   */
  customer(prefix = 'cust'): Identity {
    const username = uniqueCustomer(prefix);
    const password = randomBytes(12).toString('base64url');
    let registered: Promise<void> | undefined;
    const ensure = () => {
      registered ??= this.register(username, password);
      registered.catch(() => (registered = undefined));
      return registered;
    };
    const token = async () => {
      await ensure();
      return this.token(username, password);
    };
    return {
      customerId: username,
      token,
      headers: async () => ({ authorization: `Bearer ${await token()}` }),
    };
  }

  /** The seeded operator `ops`. */
  operator(): Identity {
    return this.account(OPERATOR.username, OPERATOR.password);
  }
}

export interface TestIssuer {
  url: string;
  client: IdentityClient;
  rotateKeys(): Promise<void>;
  stop(): Promise<void>;
}

/** A real issuer (oidc-provider) in this process on a free port, for one test file; `stop()` it in `after`. */
export async function testIssuer(
  opts: { consoleOrigins?: string[]; stateDir?: string } = {},
): Promise<TestIssuer> {
  // Loaded on demand: most tests that import the testkit never start an issuer.
  const { startIssuer } = await import('@shop/issuer');
  const issuer = await startIssuer({ port: 0, ...opts });
  return {
    url: issuer.url,
    client: new IdentityClient(issuer.url),
    rotateKeys: () => issuer.rotateKeys(),
    stop: () => issuer.stop(),
  };
}
