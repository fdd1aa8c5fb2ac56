// Authentication at the REST edge (issue 11): each route of the table says who may call it; the caller's token is
// verified here and forwarded to orders and payments, which verify it again (docs/architecture.md, "Identity").
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator, Identity } from '@shop/platform';
import { AuthError, requireOperator, setCaller } from '@shop/platform';
import type { Problem } from './problems';
import { PROBLEM_CONTENT_TYPE, problem } from './problems';

/**
 * Who may call a route: `public` (anyone, no token read), `caller` (a valid access token), `operator` (a valid token
 * with the operator role). In AUTH_MODE=open every route is public.
 */
export type RouteAuth = 'public' | 'caller' | 'operator';

/** The `realm` of every WWW-Authenticate challenge (RFC 6750 section 3): the API's audience. */
export const REALM = 'shop-api';

const callers = new WeakMap<FastifyRequest, Identity>();

/** The verified caller of a request (undefined on public routes and in open mode). */
export function callerOf(req: FastifyRequest): Identity | undefined {
  return callers.get(req);
}

// A quoted-string of RFC 9110 may not hold `"` or `\` unescaped; the descriptions never do, this keeps it so.
const quoted = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

/** The problem answered for a refusal, and the WWW-Authenticate challenge that goes with a 401 (or a 403 by role). */
export function authProblem(err: AuthError, tokenSent: boolean): { problem: Problem; challenge?: string } {
  if (err.status === 503)
    return {
      problem: problem(
        503,
        'auth-unavailable',
        'Access tokens cannot be checked right now',
        "the issuer's signing keys could not be fetched; retry later",
      ),
    };
  if (err.status === 403) {
    const p = problem(403, 'forbidden', 'Forbidden', err.message);
    // RFC 6750 section 3.1: a valid token without the privileges a resource needs.
    return err.reason === 'operator_only'
      ? {
          problem: p,
          challenge: `Bearer realm=${quoted(REALM)}, error="insufficient_scope", error_description=${quoted(err.message)}`,
        }
      : { problem: p };
  }
  // RFC 6750 section 3.1: no error code when the request carried no bearer token at all.
  const challenge =
    tokenSent && err.reason !== 'missing_token' && err.reason !== 'not_bearer'
      ? `Bearer realm=${quoted(REALM)}, error="invalid_token", error_description=${quoted(err.message)}`
      : `Bearer realm=${quoted(REALM)}`;
  return { problem: problem(401, 'unauthenticated', 'Authentication required', err.message), challenge };
}

export function sendAuthProblem(reply: FastifyReply, err: AuthError, tokenSent: boolean): FastifyReply {
  const { problem: p, challenge } = authProblem(err, tokenSent);
  if (challenge) void reply.header('www-authenticate', challenge);
  if (p.status === 503) void reply.header('retry-after', '1');
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
}

/**
 * The route-level `onRequest` hook of a route that needs a caller (or an operator): before the body is read, so an
 * unauthenticated request never costs a parse. Routes of other files (the console's admin routes) use it too:
 * `app.route({ ..., onRequest: authHook(auth, 'operator') })`.
 */
export function authHook(auth: Authenticator, level: RouteAuth) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (level === 'public' || auth.mode === 'open') return;
    const header = req.headers.authorization;
    try {
      const caller = await auth.authenticate(header);
      if (!caller) return;
      if (level === 'operator') {
        try {
          requireOperator(caller);
        } catch (err) {
          auth.refused('operator_only');
          throw err;
        }
      }
      callers.set(req, caller);
      setCaller(caller);
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      await sendAuthProblem(reply, err, header !== undefined && header.trim() !== '');
    }
  };
}
