// Who is calling: OpenID Connect access tokens (RFC 9068 JWTs) verified against the issuer's JWKS, at the edge and
// again in the backends (docs/architecture.md, "Identity: from the edge to orders and payments").
import { trace } from '@opentelemetry/api';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import client from 'prom-client';
import { z } from 'zod';
import * as rules from '@shop/contracts/rules';
import { env } from './config';
import type { grpc } from './grpc';
import { grpcError, Status } from './grpc';
import type { Logger } from './logger';
import { requestContext } from './logger';
import type { Registry } from './metrics';
import { errorMessage } from './retry';

export const AUTH_MODES = ['oidc', 'open'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

const unsetIfEmpty = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const claimName = (def: string, description: string) =>
  z
    .preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(/^[A-Za-z0-9_.:/-]{1,100}$/, 'expected a claim name (letters, digits, _ . : / -)')
        .default(def),
    )
    .describe(description);

/** The auth variables of gateway, orders and payments (the shared contract of issue 11). */
export const authConfig = () => ({
  AUTH_MODE: z
    .preprocess(
      unsetIfEmpty,
      z.enum(AUTH_MODES, { error: `expected one of ${AUTH_MODES.join(', ')}` }).default('oidc'),
    )
    .describe(
      'oidc: every call about a customer needs an access token of OIDC_ISSUER; open: no authentication at all (labs and demos only, logged as a warning)',
    ),
  OIDC_ISSUER: env.optionalHttpUrl(
    'OpenID Connect issuer whose access tokens are accepted (its discovery document names the JWKS); required with AUTH_MODE=oidc',
  ),
  OIDC_AUDIENCE: env.string('shop-api', 'the audience (aud) an access token must name'),
  OIDC_JWKS_URI: env.optionalHttpUrl(
    "the issuer's JWKS (unset: the jwks_uri of OIDC_ISSUER's discovery document)",
  ),
  OIDC_CUSTOMER_CLAIM: claimName('sub', 'the access-token claim holding the customer id'),
  OIDC_ROLES_CLAIM: claimName('roles', 'the access-token claim listing the roles (customer, operator)'),
});

export type AuthConfig = z.infer<z.ZodObject<ReturnType<typeof authConfig>>>;

/** Checks across the auth variables, once each is valid on its own (loadConfig). */
export function authViolations(config: Partial<AuthConfig>): string[] {
  if (config.AUTH_MODE === 'oidc' && !config.OIDC_ISSUER)
    return [
      'OIDC_ISSUER=not set: required with AUTH_MODE=oidc (the issuer of the access tokens, e.g. http://127.0.0.1:8090); AUTH_MODE=open turns authentication off',
    ];
  return [];
}

/** The verified caller. `customerId` comes from the token only; `token` is forwarded to the backends, never logged. */
export interface Identity {
  customerId: string;
  roles: string[];
  operator: boolean;
  token: string;
}

/** Why a request was refused; bounded (a metric label) and safe to tell the caller (never echoes the token). */
export const AUTH_REFUSALS = {
  missing_token: 'no access token was sent',
  malformed: 'the access token is not a well-formed JWT',
  not_bearer: 'expected an Authorization header of the form: Bearer <access token>',
  expired: 'the access token has expired',
  not_yet_valid: 'the access token is not valid yet',
  unknown_key: 'the access token is signed by a key the issuer does not publish',
  bad_signature: 'the access token signature is invalid',
  bad_algorithm: 'the access token is not signed with ES256 or RS256',
  wrong_type: 'the access token is not of type at+jwt',
  wrong_issuer: 'the access token is from another issuer',
  wrong_audience: 'the access token is not meant for this API',
  bad_claims: 'the access token lacks a valid customer or roles claim',
  issuer_unavailable: "the issuer's keys could not be fetched",
  forbidden: 'the caller may not act for this customer',
  operator_only: 'this needs the operator role',
} as const;
export type AuthRefusal = keyof typeof AUTH_REFUSALS;

/**
 * A refused call. `status` is what the REST edge answers (401 unauthenticated, 403 forbidden, 503 when the issuer's
 * keys cannot be fetched); gRPC maps it to UNAUTHENTICATED, PERMISSION_DENIED or UNAVAILABLE (authGrpcError).
 */
export class AuthError extends Error {
  readonly status: 401 | 403 | 503;
  constructor(
    readonly reason: AuthRefusal,
    detail: string = AUTH_REFUSALS[reason],
  ) {
    super(detail);
    this.name = 'AuthError';
    this.status =
      reason === 'forbidden' || reason === 'operator_only'
        ? 403
        : reason === 'issuer_unavailable'
          ? 503
          : 401;
  }
}

const ALGORITHMS = ['ES256', 'RS256'];
const CLOCK_TOLERANCE_S = 5;
/** After a token names an unknown `kid`, the JWKS is fetched again at most this often (a rotated key within it). */
const JWKS_COOLDOWN_MS = 1000;
/**
 * Verified tokens are remembered by their exact string (a clone cannot differ by a byte), so a client that sends the
 * same token on every call pays for one signature check, not one per call: at most this many, LRU ...
 */
export const VERIFIED_CACHE_MAX = 10_000;
/** ... each until its `exp`, and at most this long, which bounds how long a token signed by a withdrawn key lives on. */
export const VERIFIED_CACHE_TTL_MS = 60_000;

export interface VerifierOptions {
  issuer: string;
  audience: string;
  jwksUri?: string;
  customerClaim?: string;
  rolesClaim?: string;
  /** Registry for auth_refusals_total; none: not counted. */
  registry?: Registry;
  /** Verified tokens remembered (VERIFIED_CACHE_MAX); 0: every call verifies its token. */
  cacheSize?: number;
  /** The clock of the cache (tests). */
  now?: () => number;
}

export interface TokenVerifier {
  /** The identity in a raw access token, or an AuthError. */
  verify(token: string): Promise<Identity>;
  /** The identity in an `Authorization` header value (`Bearer <token>`), or an AuthError (missing_token when unset). */
  verifyHeader(header: string | undefined): Promise<Identity>;
  /** Counts a refusal decided outside the verifier (forbidden, operator_only). */
  refused(reason: AuthRefusal): void;
  /** The cache of verified tokens: calls answered from it, calls that verified a signature, tokens held. */
  cacheStats(): { hits: number; misses: number; size: number };
}

function refusalCounter(registry: Registry | undefined): client.Counter<'reason'> | undefined {
  if (!registry) return undefined;
  const name = 'auth_refusals_total';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as client.Counter<'reason'>;
  const counter = new client.Counter({
    name,
    help: 'calls refused by authentication or authorization, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of Object.keys(AUTH_REFUSALS)) counter.inc({ reason }, 0);
  return counter;
}

/** jose's error for a token, as one of the reasons a caller is told. */
function refusalOf(err: unknown): AuthRefusal {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss':
        return 'wrong_issuer';
      case 'aud':
        return 'wrong_audience';
      case 'nbf':
        return 'not_yet_valid';
      case 'typ':
        return 'wrong_type';
      default:
        return 'bad_claims';
    }
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys)
    return 'unknown_key';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported)
    return 'bad_algorithm';
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid)
    return 'issuer_unavailable';
  if (err instanceof joseErrors.JOSEError) return 'malformed';
  // Anything else is the fetch of the discovery document or the JWKS failing.
  return 'issuer_unavailable';
}

function rolesOf(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (typeof value === 'string') return value.split(' ').filter((r) => r !== '');
  if (Array.isArray(value) && value.every((r) => typeof r === 'string')) return value;
  return undefined;
}

/**
 * A verifier of the issuer's access tokens: signature against the JWKS (an unknown `kid` refetches it, so a rotated
 * key is accepted without a restart), `iss`, `aud`, `exp`/`nbf` with a small clock tolerance, header `typ: at+jwt`
 * (RFC 9068 section 4), ES256 or RS256 only. The discovery document is read on first use, so a service may start
 * before its issuer.
 */
export function createVerifier(opts: VerifierOptions, logger?: Logger): TokenVerifier {
  const customerClaim = opts.customerClaim ?? 'sub';
  const rolesClaim = opts.rolesClaim ?? 'roles';
  const counter = refusalCounter(opts.registry);
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  async function discover(): Promise<string> {
    const url = `${opts.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const res = await fetch(url, { signal: AbortSignal.timeout(5000), redirect: 'error' });
    if (!res.ok) throw new Error(`discovery ${url} answered ${res.status}`);
    const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (typeof doc.jwks_uri !== 'string') throw new Error(`discovery ${url} names no jwks_uri`);
    return doc.jwks_uri;
  }

  function keys(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (jwks) return Promise.resolve(jwks);
    discovering ??= (async () => {
      const uri = opts.jwksUri ?? (await discover());
      jwks = createRemoteJWKSet(new URL(uri), { cooldownDuration: JWKS_COOLDOWN_MS, timeoutDuration: 5000 });
      return jwks;
    })().finally(() => {
      discovering = undefined;
    });
    return discovering;
  }

  const refuse = (reason: AuthRefusal): never => {
    counter?.inc({ reason });
    throw new AuthError(reason);
  };

  // Only accepted tokens are kept; a refused one is checked again on every call (and counted each time).
  const cacheSize = opts.cacheSize ?? VERIFIED_CACHE_MAX;
  const now = opts.now ?? Date.now;
  const verified = new Map<string, { identity: Identity; until: number }>();
  const stats = { hits: 0, misses: 0 };
  function cached(token: string): Identity | undefined {
    const hit = verified.get(token);
    if (hit) verified.delete(token);
    if (!hit || hit.until <= now()) {
      stats.misses += 1;
      return undefined;
    }
    verified.set(token, hit); // most recently used last: Map keeps insertion order
    stats.hits += 1;
    return hit.identity;
  }
  function remember(token: string, identity: Identity, exp: number | undefined): void {
    if (cacheSize <= 0 || exp === undefined) return;
    const until = Math.min(exp * 1000, now() + VERIFIED_CACHE_TTL_MS);
    if (until <= now()) return;
    verified.set(token, { identity, until });
    while (verified.size > cacheSize) {
      const oldest = verified.keys().next();
      if (oldest.done) break;
      verified.delete(oldest.value);
    }
  }

  async function verify(token: string): Promise<Identity> {
    const known = cached(token);
    if (known) {
      trace.getActiveSpan()?.setAttribute('enduser.role', known.roles.join(' '));
      return { ...known, roles: [...known.roles] };
    }
    if (token.split('.').length !== 3) return refuse('malformed');
    let payload: JWTPayload;
    try {
      const set = await keys();
      ({ payload } = await jwtVerify(token, set, {
        issuer: opts.issuer,
        audience: opts.audience,
        algorithms: ALGORITHMS,
        typ: 'at+jwt',
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', customerClaim],
      }));
    } catch (err) {
      const reason = refusalOf(err);
      if (reason === 'issuer_unavailable')
        logger?.warn({ err: errorMessage(err), issuer: opts.issuer }, 'could not fetch the issuer keys');
      return refuse(reason);
    }
    const customerId = payload[customerClaim];
    const roles = rolesOf(payload[rolesClaim]);
    if (
      typeof customerId !== 'string' ||
      rules.checkString(rules.CUSTOMER_ID, customerId) !== undefined ||
      !roles
    )
      return refuse('bad_claims');
    const identity = { customerId, roles, operator: roles.includes('operator'), token };
    remember(token, { ...identity, roles: [...roles] }, payload.exp);
    // The caller's role on the span; never the token, and not the customer id: no personal data on spans
    // (docs/architecture.md, load/test/observability.test.ts).
    trace.getActiveSpan()?.setAttribute('enduser.role', roles.join(' '));
    return identity;
  }

  return {
    verify,
    async verifyHeader(header) {
      if (header === undefined || header.trim() === '') return refuse('missing_token');
      const m = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
      if (!m?.[1]) return refuse('not_bearer');
      return verify(m[1]);
    },
    refused(reason) {
      counter?.inc({ reason });
    },
    cacheStats: () => ({ ...stats, size: verified.size }),
  };
}

/**
 * How a service authenticates its callers: `oidc` verifies tokens, `open` (AUTH_MODE=open) lets everyone through
 * as nobody in particular, the edge of before issue 11.
 */
export interface Authenticator {
  readonly mode: AuthMode;
  /** The caller of a request with this Authorization value; undefined in open mode; an AuthError otherwise. */
  authenticate(authorization: string | undefined): Promise<Identity | undefined>;
  refused(reason: AuthRefusal): void;
}

/** The service's Authenticator from its auth variables; open mode logs a warning at once. */
export function createAuthenticator(
  config: AuthConfig,
  deps: { logger: Logger; registry?: Registry },
): Authenticator {
  const counter = refusalCounter(deps.registry);
  if (config.AUTH_MODE === 'open') {
    deps.logger.warn(
      { code: 'AUTH_OPEN', authMode: 'open' },
      'AUTH_MODE=open: NO AUTHENTICATION. Anyone can read, place and cancel orders as any customer. Labs and demos only.',
    );
    return {
      mode: 'open',
      authenticate: () => Promise.resolve(undefined),
      refused: (reason) => counter?.inc({ reason }),
    };
  }
  if (!config.OIDC_ISSUER) throw new Error('OIDC_ISSUER is required with AUTH_MODE=oidc');
  const verifier = createVerifier(
    {
      issuer: config.OIDC_ISSUER,
      audience: config.OIDC_AUDIENCE,
      customerClaim: config.OIDC_CUSTOMER_CLAIM,
      rolesClaim: config.OIDC_ROLES_CLAIM,
      ...(config.OIDC_JWKS_URI ? { jwksUri: config.OIDC_JWKS_URI } : {}),
      ...(deps.registry ? { registry: deps.registry } : {}),
    },
    deps.logger,
  );
  deps.logger.info(
    { authMode: 'oidc', issuer: config.OIDC_ISSUER, audience: config.OIDC_AUDIENCE },
    'auth on',
  );
  return {
    mode: 'oidc',
    authenticate: (h) => verifier.verifyHeader(h),
    refused: (reason) => verifier.refused(reason),
  };
}

/**
 * The customer a call acts for. A customer may name only itself (another id: forbidden); unnamed, it is the caller's
 * own. An operator may name anyone, and unnamed means every customer (undefined). Open mode: what was given.
 */
export function actingCustomer(caller: Identity | undefined, given: string | undefined): string | undefined {
  if (!caller) return given;
  if (caller.operator) return given;
  if (given !== undefined && given !== caller.customerId) throw new AuthError('forbidden');
  return caller.customerId;
}

/** Throws operator_only unless the caller is an operator (open mode: everyone is). */
export function requireOperator(caller: Identity | undefined): void {
  if (caller && !caller.operator) throw new AuthError('operator_only');
}

// --- gRPC: the gateway forwards the caller's token as `authorization: Bearer <jwt>`; orders and payments verify it.

/** The caller of an incoming gRPC call (its `authorization` metadata); undefined in open mode, else AuthError. */
export function grpcCaller(auth: Authenticator, metadata: grpc.Metadata): Promise<Identity | undefined> {
  const values = metadata.get('authorization');
  const first = values[0];
  if (values.length > 1) {
    auth.refused('malformed');
    return Promise.reject(new AuthError('malformed', 'more than one authorization value'));
  }
  return auth.authenticate(typeof first === 'string' ? first : undefined);
}

/** An AuthError as its gRPC status: UNAUTHENTICATED, PERMISSION_DENIED or UNAVAILABLE. */
export function authGrpcError(err: AuthError) {
  const code =
    err.status === 403
      ? Status.PERMISSION_DENIED
      : err.status === 503
        ? Status.UNAVAILABLE
        : Status.UNAUTHENTICATED;
  return grpcError(code, `${err.reason}: ${err.message}`);
}

/**
 * Marks the current request as made by `caller`, so that the gRPC clients created with `forwardCaller` pass its
 * token on (gateway to orders and payments). Needs a request context (the HTTP server opens one per request).
 */
export function setCaller(caller: Identity | undefined): void {
  const store = requestContext.getStore();
  if (store) store.caller = caller;
}

/** The caller set on the current request, if any. */
export function currentCaller(): Identity | undefined {
  return requestContext.getStore()?.caller;
}
