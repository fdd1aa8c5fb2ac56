// Tokens the real issuer would never hand out (expired, for another audience, signed by another key, `alg: none`),
// for the refusal tests only: signing in is always done at the real issuer (identity.ts).
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';

export interface MintOptions {
  /** Default: the key server's own URL. */
  issuer?: string;
  /** Default: shop-api. */
  audience?: string;
  /** Seconds from now; negative: already expired. Default 900. */
  expiresIn?: number;
  /** Default: at+jwt. */
  typ?: string;
  /** Default: ES256. */
  alg?: 'ES256' | 'RS256';
}

export interface KeyServer {
  /** Its URL: an issuer with discovery (`/.well-known/openid-configuration`) and a JWKS, no login. */
  url: string;
  /** A JWT signed by the key this server publishes. */
  mint(claims: JWTPayload, opts?: MintOptions): Promise<string>;
  /** Publishes a new key (kept with the old ones) and signs with it from now on. */
  rotate(): Promise<void>;
  stop(): Promise<void>;
}

interface SigningKey {
  kid: string;
  alg: 'ES256' | 'RS256';
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newKey(alg: 'ES256' | 'RS256' = 'ES256'): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg);
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

async function sign(key: SigningKey, claims: JWTPayload, opts: MintOptions, issuer: string) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ['customer'], ...claims })
    .setProtectedHeader({ alg: key.alg, typ: opts.typ ?? 'at+jwt', kid: key.kid })
    .setIssuer(opts.issuer ?? issuer)
    .setAudience(opts.audience ?? 'shop-api')
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.expiresIn ?? 900))
    .setJti(randomUUID())
    .sign(key.privateKey);
}

/** A loopback key server publishing its keys like an issuer does; `stop()` it in `after`. */
export async function keyServer(): Promise<KeyServer> {
  const keys: SigningKey[] = [await newKey('ES256'), await newKey('RS256')];
  let current = keys[0] as SigningKey;
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const send = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') send({ issuer: base, jwks_uri: `${base}/jwks` });
    else if (req.url === '/jwks') send({ keys: keys.map((k) => k.jwk) });
    else {
      res.writeHead(404);
      res.end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    async mint(claims, opts = {}) {
      const key = opts.alg ? (keys.find((k) => k.alg === opts.alg) ?? current) : current;
      return sign(key, claims, opts, url);
    },
    async rotate() {
      current = await newKey('ES256');
      keys.push(current);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A token naming `issuer` but signed by a key that issuer never published. */
export async function foreignToken(issuer: string, claims: JWTPayload, opts: MintOptions = {}) {
  return sign(await newKey(opts.alg ?? 'ES256'), claims, opts, issuer);
}

/** An unsigned token (`alg: none`, RFC 7519 section 6), which no verifier may accept. */
export function unsignedToken(issuer: string, claims: JWTPayload): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const payload = { iss: issuer, aud: 'shop-api', iat: now, exp: now + 900, roles: ['customer'], ...claims };
  return `${enc({ alg: 'none', typ: 'at+jwt' })}.${enc(payload)}.`;
}
