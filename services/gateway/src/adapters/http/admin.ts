import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminRoutes } from '@shop/platform';
import { errorMessage } from '@shop/platform';
import type { Problem } from './problems';
import { PROBLEM_CONTENT_TYPE, problem, validationProblem } from './problems';

/** How long the gateway waits for a service's admin API. */
const ADMIN_TIMEOUT_MS = 3000;

/** One phase report of the lab runner (labs/src/lab.ts), as it last sent it. */
export interface LabReport {
  lab: string;
  title: string;
  /** The phase running now, or the last one when the run has ended. */
  phase: string;
  state: 'running' | 'passed' | 'failed';
  phases: { phase: string; ok: boolean | null; ms: number | null }[];
  startedAt: string;
  updatedAt: string;
}

/**
 * The lab currently running (or last run) on this platform, as the lab runner reports it to the gateway's admin
 * port (`PUT /labs/current`, best effort). Kept in memory: a restarted gateway shows none until the next phase.
 */
export class LabBoard {
  current: LabReport | null = null;
}

export interface AdminOptions {
  /** Service name -> base URL of its fault admin API (FAULT_ADMIN_URLS). */
  faultAdmins: Record<string, string>;
  labs: LabBoard;
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
export interface AdminRoute {
  operationId: string;
  method: 'GET' | 'PUT' | 'DELETE';
  url: string;
  /** Every admin route is the operator's (routes.ts checks it like any route of the table). */
  auth: 'operator';
  handler: Handler;
}

const sendProblem = (reply: FastifyReply, p: Problem) =>
  reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);

class AdminCallError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
  }
}

async function adminCall(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS),
    });
  } catch (err) {
    throw new AdminCallError(503, undefined, `${method} ${path}: ${errorMessage(err)}`);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) throw new AdminCallError(res.status, parsed, `${method} ${path}: ${res.status}`);
  return parsed;
}

/** An admin API's refusal as the edge's problem: its 400 (naming the parameters) and 404 pass, the rest is 503. */
function adminProblem(service: string, err: unknown): Problem {
  if (err instanceof AdminCallError && (err.status === 400 || err.status === 404)) {
    const b = (err.body ?? {}) as { detail?: string; errors?: { field: string; message: string }[] };
    const detail = `${service}: ${b.detail ?? err.message}`;
    return err.status === 400
      ? problem(400, 'validation-failed', 'Validation failed', detail, b.errors ?? [])
      : problem(404, 'not-found', 'Not found', detail);
  }
  return problem(
    503,
    'upstream-unavailable',
    'Upstream unavailable',
    `the admin API of ${service} did not answer: ${err instanceof Error ? err.message : 'unknown error'}`,
  );
}

const params = (req: FastifyRequest) => req.params as Record<string, string>;

/**
 * The operator's routes under /v1/admin (docs/console.md): the faults of every service with their switches (the
 * services' fault admin APIs behind FAULT_ADMIN_URLS), the running lab and its phases, and orders' parked sagas.
 */
export function adminApiRoutes(opts: AdminOptions): AdminRoute[] {
  /** One call to a service's admin API, answered as it answered, or as the edge's problem. */
  const proxy = async (
    reply: FastifyReply,
    service: string,
    method: 'GET' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
  ) => {
    const url = opts.faultAdmins[service];
    if (url === undefined)
      return sendProblem(
        reply,
        problem(
          404,
          'not-found',
          'Not found',
          `no fault admin API is configured for "${service}" (FAULT_ADMIN_URLS names: ${Object.keys(opts.faultAdmins).join(', ') || 'none'})`,
        ),
      );
    try {
      return await adminCall(url, method, path, body);
    } catch (err) {
      return sendProblem(reply, adminProblem(service, err));
    }
  };
  return [
    {
      operationId: 'listFaults',
      method: 'GET',
      url: '/v1/admin/faults',
      auth: 'operator',
      handler: async () => ({
        items: await Promise.all(
          Object.entries(opts.faultAdmins).map(async ([service, url]) => {
            try {
              const view = (await adminCall(url, 'GET', '/faults')) as {
                active: unknown[];
                available: unknown[];
              };
              return { service, reachable: true, active: view.active, available: view.available };
            } catch (err) {
              return { service, reachable: false, active: [], available: [], error: errorMessage(err) };
            }
          }),
        ),
      }),
    },
    {
      operationId: 'setFault',
      method: 'PUT',
      url: '/v1/admin/faults/:service/:name',
      auth: 'operator',
      handler: (req, reply) => {
        const { service = '', name = '' } = params(req);
        return proxy(reply, service, 'PUT', `/faults/${encodeURIComponent(name)}`, req.body ?? {});
      },
    },
    {
      operationId: 'clearFault',
      method: 'DELETE',
      url: '/v1/admin/faults/:service/:name',
      auth: 'operator',
      handler: (req, reply) => {
        const { service = '', name = '' } = params(req);
        return proxy(reply, service, 'DELETE', `/faults/${encodeURIComponent(name)}`);
      },
    },
    {
      operationId: 'currentLab',
      method: 'GET',
      url: '/v1/admin/labs',
      auth: 'operator',
      handler: () => Promise.resolve({ current: opts.labs.current }),
    },
    {
      operationId: 'listParkedSagas',
      method: 'GET',
      url: '/v1/admin/sagas/parked',
      auth: 'operator',
      handler: (_req, reply) => proxy(reply, 'orders', 'GET', '/sagas/parked'),
    },
  ];
}

const LAB_STATES = ['running', 'passed', 'failed'];
const text = (v: unknown, max: number) => typeof v === 'string' && v.length > 0 && v.length <= max;

/** Why a lab report is refused, one entry a field (empty: accepted). */
function labViolations(b: Record<string, unknown>): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  if (!text(b.lab, 100)) out.push({ field: 'lab', message: 'must be a string of 1 to 100 characters' });
  if (b.title !== undefined && !text(b.title, 200))
    out.push({ field: 'title', message: 'must be a string of 1 to 200 characters' });
  if (!text(b.phase, 40)) out.push({ field: 'phase', message: 'must be a string of 1 to 40 characters' });
  if (!LAB_STATES.includes(String(b.state)))
    out.push({ field: 'state', message: `must be one of ${LAB_STATES.join(', ')}` });
  if (b.phases !== undefined && !Array.isArray(b.phases))
    out.push({ field: 'phases', message: 'must be an array' });
  return out;
}

/**
 * The gateway's own routes on its admin port (127.0.0.1:ADMIN_PORT): `PUT /labs/current` (the lab runner's phase
 * reports) and `DELETE /labs/current`.
 */
export function gatewayAdminRoutes(labs: LabBoard): AdminRoutes {
  return (app) => {
    app.put('/labs/current', (req, reply) => {
      const b = (req.body ?? {}) as Record<string, unknown>;
      const errors = labViolations(b);
      if (errors.length > 0) return sendProblem(reply, validationProblem(errors));
      const now = new Date().toISOString();
      const previous = labs.current;
      const same = previous?.lab === b.lab && previous?.state === 'running';
      const phases = Array.isArray(b.phases)
        ? (b.phases as Record<string, unknown>[]).slice(0, 20).map((p) => ({
            phase: typeof p.phase === 'string' ? p.phase.slice(0, 40) : '',
            ok: typeof p.ok === 'boolean' ? p.ok : null,
            ms: typeof p.ms === 'number' ? p.ms : null,
          }))
        : [];
      labs.current = {
        lab: String(b.lab),
        title: typeof b.title === 'string' ? b.title : String(b.lab),
        phase: String(b.phase),
        state: b.state as LabReport['state'],
        phases,
        startedAt: same && previous ? previous.startedAt : now,
        updatedAt: now,
      };
      return labs.current;
    });
    app.delete('/labs/current', () => {
      labs.current = null;
      return { current: null };
    });
  };
}
