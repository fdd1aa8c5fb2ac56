// RFC 9457 problem details. `type` is a stable URI per kind of problem (documented in openapi.yaml and the README);
// `errors` always lists `{ field, message }` (empty when no single field is to blame).
import { Status } from '@shop/platform';
import type { Violation } from '../../domain/model';
import type { UpstreamError } from '../../app/ports';

export const PROBLEM_BASE = 'https://errors.cloud-native-shop.dev/';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors: Violation[];
}

export const problem = (
  status: number,
  slug: string,
  title: string,
  detail: string,
  errors: Violation[] = [],
): Problem => ({
  type: PROBLEM_BASE + slug,
  title,
  status,
  detail,
  errors,
});

interface Mapping {
  status: number;
  slug: string;
  title: string;
  /** Whether the upstream's message is meant for the caller; 5xx never pass internals on. */
  passDetail: boolean;
}

/**
 * THE mapping of upstream gRPC status codes to HTTP (issue 3). Anything not listed is a 500 whose detail says
 * nothing about the internals (the upstream's message is logged instead).
 */
export const GRPC_TO_HTTP: Readonly<Partial<Record<number, Mapping>>> = {
  [Status.INVALID_ARGUMENT]: {
    status: 400,
    slug: 'validation-failed',
    title: 'The request is invalid',
    passDetail: true,
  },
  [Status.NOT_FOUND]: { status: 404, slug: 'not-found', title: 'Not found', passDetail: true },
  // The backends verify the forwarded token themselves (issue 11); the edge checked it first, so these mean the
  // edge and a backend disagree (another issuer configured, or AUTH_MODE=open at the edge only).
  [Status.UNAUTHENTICATED]: {
    status: 401,
    slug: 'unauthenticated',
    title: 'Authentication required',
    passDetail: false,
  },
  [Status.PERMISSION_DENIED]: { status: 403, slug: 'forbidden', title: 'Forbidden', passDetail: false },
  [Status.FAILED_PRECONDITION]: {
    status: 409,
    slug: 'invalid-state',
    title: 'Not possible in the current state',
    passDetail: true,
  },
  // PlaceOrder with an idempotency key already used for another request (see adapters/grpc/upstreams.ts).
  [Status.ALREADY_EXISTS]: {
    status: 422,
    slug: 'idempotency-key-reused',
    title: 'The idempotency key was used for another request',
    passDetail: true,
  },
  [Status.UNAVAILABLE]: {
    status: 503,
    slug: 'upstream-unavailable',
    title: 'A service behind the gateway is unavailable',
    passDetail: false,
  },
  [Status.DEADLINE_EXCEEDED]: {
    status: 504,
    slug: 'upstream-timeout',
    title: 'A service behind the gateway did not answer in time',
    passDetail: false,
  },
};

export const INTERNAL = problem(
  500,
  'internal',
  'Internal error',
  'the request could not be completed; retry later',
);

export function problemFromUpstream(err: UpstreamError): Problem {
  const m = GRPC_TO_HTTP[err.code];
  if (!m) return INTERNAL;
  const violations = m.status === 400 ? err.violations : [];
  // With violations, the detail is written from them, so it names the REST fields (cursor), not the proto ones.
  if (violations.length > 0) return validationProblem(violations);
  const detail =
    m.passDetail && err.details ? err.details : `${err.upstream} answered ${Status[err.code] ?? err.code}`;
  return problem(m.status, m.slug, m.title, detail, violations);
}

export const validationProblem = (violations: Violation[]): Problem =>
  problem(
    400,
    'validation-failed',
    'The request is invalid',
    violations.map((v) => `${v.field}: ${v.message}`).join('; '),
    violations,
  );
