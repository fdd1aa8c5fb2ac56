import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator, GatewayContext } from '@shop/platform';
import { rules } from '@shop/contracts';
import { AuthError, actingCustomer, errorMessage } from '@shop/platform';
import type { Upstreams } from '../../app/ports';
import type { ListOrdersInput, ListPaymentsInput, OrderStatus, Violation } from '../../domain/model';
import { ValidationError } from '../../domain/model';
import { UpstreamError } from '../../app/ports';
import type { AdminOptions } from './admin';
import { LabBoard, adminApiRoutes } from './admin';
import type { RouteAuth } from './auth';
import { REALM, authHook, callerOf, sendAuthProblem } from './auth';
import { answerClientErrorsAsProblems } from './client-errors';
import { CONSOLE_PATHS } from './console';
import type { OpenStreams } from './events';
import { endStreamsOnClose, orderEvents } from './events';
import type { OpenApiDocument } from './contract';
import {
  OPENAPI_PATH,
  RequestViolations,
  compileHeaderChecks,
  compileValidator,
  loadOpenApi,
  operationContract,
} from './contract';
import type { Problem } from './problems';
import { INTERNAL, PROBLEM_CONTENT_TYPE, problem, problemFromUpstream, validationProblem } from './problems';

export { OPENAPI_PATH } from './contract';

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
interface Route {
  /** The operation in openapi.yaml whose parameters and body the route accepts. */
  operationId: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  /** Who may call it (auth.ts); the operation's `security` in openapi.yaml says the same. */
  auth: RouteAuth;
  handler: Handler;
}

// What reaches a handler has passed the operation's schemas, so these reads are typed by the document.
const params = (req: FastifyRequest) => req.params as Record<string, string>;
const query = (req: FastifyRequest) => req.query as Record<string, string | number | undefined>;

/** fastify's default `maxParamLength`: a longer path parameter never reaches a route. */
export const MAX_PARAM_LENGTH = 100;

/** Templates of the API paths that take parameters. */
export const PARAM_PATHS = {
  product: '/v1/products/:sku',
  order: '/v1/orders/:id',
  cancel: '/v1/orders/:id/cancel',
  events: '/v1/orders/:id/events',
} as const;

/** Values of a repeated header, from the raw headers (Node joins repeated unknown headers into "a, b"). */
export function headerValues(req: FastifyRequest, name: string): string[] {
  const raw = req.raw.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]?.toLowerCase() === name) values.push(raw[i + 1] ?? '');
  return values;
}

/**
 * The customer an order is placed for: the caller's (a differing `customerId` is forbidden, for operators too: they
 * see and cancel every order but place only their own). In open mode the body must name it.
 */
function placingCustomer(req: FastifyRequest, given: string | undefined): string {
  const caller = callerOf(req);
  if (caller) {
    if (given !== undefined && given !== caller.customerId) throw new AuthError('forbidden');
    return caller.customerId;
  }
  if (given === undefined)
    throw new ValidationError([
      { field: 'customerId', message: 'is required without an access token (AUTH_MODE=open)' },
    ]);
  return given;
}

/**
 * The REST API (issue 3, Interfaces): each route calls its upstream directly; what it may receive is the
 * operation's in openapi.yaml, checked before the handler runs.
 */
export function apiRoutes(
  up: Upstreams,
  admin: AdminOptions = { faultAdmins: {}, labs: new LabBoard() },
  streams: OpenStreams = new Set(),
): Route[] {
  return [
    {
      operationId: 'listProducts',
      method: 'GET',
      url: '/v1/products',
      auth: 'public',
      handler: async () => ({ items: await up.listProducts() }),
    },
    {
      operationId: 'getProduct',
      method: 'GET',
      url: PARAM_PATHS.product,
      auth: 'public',
      handler: (req) => up.getProduct(params(req).sku ?? ''),
    },
    {
      operationId: 'placeOrder',
      method: 'POST',
      url: '/v1/orders',
      auth: 'caller',
      handler: async (req, reply) => {
        const body = req.body as { customerId?: string; items: { sku: string; quantity: number }[] };
        const key = headerValues(req, 'idempotency-key')[0];
        const { order, replayed } = await up.placeOrder({
          customerId: placingCustomer(req, body.customerId),
          items: body.items.map(({ sku, quantity }) => ({ sku, quantity })),
          ...(key !== undefined ? { idempotencyKey: key } : {}),
        });
        // A replay answers 200 with the order the key first created (its current state); a first request 201.
        void reply.code(replayed ? 200 : 201).header('location', `/v1/orders/${order.id}`);
        if (replayed) void reply.header('idempotent-replayed', 'true');
        return order;
      },
    },
    {
      operationId: 'listOrders',
      method: 'GET',
      url: '/v1/orders',
      auth: 'caller',
      handler: (req) => {
        const q = query(req);
        const caller = callerOf(req);
        const customerId = actingCustomer(
          caller,
          q.customerId !== undefined ? String(q.customerId) : undefined,
        );
        if (customerId === undefined && !caller)
          throw new ValidationError([
            { field: 'customerId', message: 'is required without an access token (AUTH_MODE=open)' },
          ]);
        const input: ListOrdersInput = {
          ...(customerId !== undefined ? { customerId } : {}),
          limit: typeof q.limit === 'number' ? q.limit : rules.DEFAULT_PAGE_SIZE,
          ...(q.status !== undefined ? { status: q.status as OrderStatus } : {}),
          ...(q.cursor !== undefined ? { cursor: String(q.cursor) } : {}),
        };
        return up.listOrders(input);
      },
    },
    {
      operationId: 'getOrder',
      method: 'GET',
      url: PARAM_PATHS.order,
      auth: 'caller',
      handler: (req) => up.getOrder((params(req).id ?? '').toLowerCase()),
    },
    {
      operationId: 'cancelOrder',
      method: 'POST',
      url: PARAM_PATHS.cancel,
      auth: 'caller',
      handler: async (req, reply) => {
        const order = await up.cancelOrder((params(req).id ?? '').toLowerCase());
        void reply.code(202);
        return order;
      },
    },
    {
      operationId: 'watchOrderEvents',
      method: 'GET',
      url: PARAM_PATHS.events,
      auth: 'caller',
      handler: (req, reply) => orderEvents(streams, up, (params(req).id ?? '').toLowerCase(), reply),
    },
    {
      operationId: 'listPayments',
      method: 'GET',
      url: '/v1/payments',
      auth: 'caller',
      handler: async (req) => {
        const q = query(req);
        const customerId = actingCustomer(
          callerOf(req),
          q.customerId !== undefined ? String(q.customerId) : undefined,
        );
        const input: ListPaymentsInput = {
          ...(q.orderId !== undefined ? { orderId: String(q.orderId).toLowerCase() } : {}),
          ...(customerId !== undefined ? { customerId } : {}),
        };
        return { items: await up.listPayments(input) };
      },
    },
    ...adminApiRoutes(admin),
  ];
}

/** Routes the platform's HTTP server registers itself (probes, metrics), for 405 answers. */
const PLATFORM_ROUTES = ['/livez', '/readyz', '/metrics'];

const sendProblem = (reply: FastifyReply, p: Problem) =>
  reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);

const decodes = (segment: string) => {
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
};

/**
 * The problem for a path fastify's router refuses before any route runs (FST_ERR_BAD_URL: invalid percent-encoding,
 * FST_ERR_MAX_PARAM_LENGTH: a parameter above MAX_PARAM_LENGTH). Names the parameter (or `path`) and says what is
 * wrong without echoing the input back.
 */
export function pathProblem(rawPath: string): Problem {
  const segments = rawPath.split('/');
  const violations: Violation[] = [];
  for (const template of Object.values(PARAM_PATHS)) {
    const parts = template.split('/');
    if (parts.length !== segments.length) continue;
    if (!parts.every((part, i) => part.startsWith(':') || part === segments[i])) continue;
    parts.forEach((part, i) => {
      const segment = segments[i] ?? '';
      if (!part.startsWith(':')) return;
      const field = part.slice(1);
      if (!decodes(segment)) violations.push({ field, message: 'must be valid percent-encoded UTF-8' });
      else if (decodeURIComponent(segment).length > MAX_PARAM_LENGTH)
        violations.push({
          field,
          message: `must be at most ${MAX_PARAM_LENGTH} characters, got ${decodeURIComponent(segment).length}`,
        });
    });
    if (violations.length > 0) return validationProblem(violations);
  }
  const message = segments.every(decodes)
    ? `segments must be at most ${MAX_PARAM_LENGTH} characters`
    : 'must be valid percent-encoded UTF-8';
  return problem(400, 'bad-request', 'Bad request', `path: ${message}`, [{ field: 'path', message }]);
}

/** fastify's `frameworkErrors`: its routing errors as problems, like every other answer of the edge. */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const path = req.raw.url?.split('?')[0] ?? '';
  const p =
    err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? pathProblem(path)
      : problem(400, 'bad-request', 'Bad request', 'the request could not be routed');
  void sendProblem(reply, p);
}

function malformedJson(message: string): FastifyError {
  return Object.assign(new Error(`malformed JSON: ${message}`), {
    code: 'GATEWAY_MALFORMED_JSON',
    statusCode: 400,
    name: 'MalformedJson',
  });
}

/**
 * The hooks that hold a route to its operation in openapi.yaml: its path, query and body through fastify's validator
 * (every error of the first part that fails, as fastify reports one part), its headers from the raw headers, and
 * the rules the document states in words; all of them answered in one problem.
 */
function contractHooks(doc: OpenApiDocument, r: Route, auth: Authenticator) {
  const op = operationContract(doc, r.operationId);
  const headerChecks = compileHeaderChecks(op);
  // fastify hands the validator `null` for a missing body, as it does for a JSON `null`; tell them apart here.
  const bodyMissing = new WeakSet<FastifyRequest>();
  type Done = (err?: Error) => void;
  return {
    schema: op.schema,
    onRequest: authHook(auth, r.auth),
    attachValidation: true,
    validatorCompiler: compileValidator,
    preValidation: (req: FastifyRequest, _reply: FastifyReply, done: Done) => {
      if (req.body === undefined) {
        if (op.bodyRequired) bodyMissing.add(req);
        // No body where none is required: nothing for the body schema to refuse.
        else req.body = {};
      }
      done();
    },
    preHandler: (req: FastifyRequest, _reply: FastifyReply, done: Done) => {
      const attached = req.validationError;
      if (attached && !(attached instanceof RequestViolations)) {
        done(attached);
        return;
      }
      const found: Violation[] = [
        ...(bodyMissing.has(req) ? [{ field: 'body', message: 'is required: a JSON object' }] : []),
        ...headerChecks((name) => headerValues(req, name)),
        ...(attached?.violations ?? []),
      ];
      // A rule across parameters, which OpenAPI cannot state as a schema; stated in words on the operation.
      const oneOf = op.requireOneOf;
      // A customer's token names the customer (listing is scoped to it); an operator's names no one.
      const caller = callerOf(req);
      const implied = caller !== undefined && !caller.operator;
      if (oneOf && found.length === 0 && !implied) {
        const q = (req.query ?? {}) as Record<string, unknown>;
        const [first = '', ...others] = oneOf;
        if (oneOf.every((name) => q[name] === undefined))
          found.push({ field: first, message: `is required (or filter by ${others.join(' or ')})` });
      }
      const fields = new Set<string>();
      const violations = found.filter((v) => !fields.has(v.field) && fields.add(v.field));
      done(violations.length > 0 ? new ValidationError(violations) : undefined);
    },
  };
}

export function registerRoutes(
  app: FastifyInstance,
  up: Upstreams,
  ctx: GatewayContext,
  auth: Authenticator,
  admin?: AdminOptions,
): void {
  const contract = loadOpenApi();
  // The document is the contract the routes are checked against; a build without it must not serve anything.
  if (!contract) throw new Error(`openapi.yaml not found next to the gateway (looked for ${OPENAPI_PATH})`);
  ctx.logger.debug({ file: contract.file }, 'REST contract loaded');
  const streams: OpenStreams = new Set();
  const routes = apiRoutes(up, admin, streams);
  endStreamsOnClose(app, streams);

  // Path templates -> allowed methods, to tell an unknown path (404) from a known one with a wrong method (405).
  const templates = [
    ...routes.map((r) => ({ url: r.url, method: r.method })),
    { url: '/openapi.yaml', method: 'GET' as const },
    ...CONSOLE_PATHS.map((url) => ({ url, method: 'GET' as const })),
    ...PLATFORM_ROUTES.map((url) => ({ url, method: 'GET' as const })),
  ];
  const matchers = [...new Set(templates.map((t) => t.url))].map((url) => {
    const methods: string[] = templates.filter((t) => t.url === url).map((t) => t.method);
    if (methods.includes('GET')) methods.push('HEAD');
    const source = url.replace(/\./g, '\\.').replace(/:[A-Za-z]+/g, '[^/]+');
    return { pattern: new RegExp(`^${source}$`), methods };
  });

  answerClientErrorsAsProblems(app);

  // Only JSON request bodies (issue 3: a wrong content type is 415); an empty body is "no body".
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(malformedJson(errorMessage(err)), undefined);
    }
  });

  // Unknown routes are answered before any body is read, so a bad body never hides a 404 or 405.
  app.addHook('onRequest', async (req, reply) => {
    // RFC 9112 section 3.2: an HTTP/1.1 request without Host is a 400 (Node's own answer to it has no body).
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) {
      const message = 'is required in HTTP/1.1 requests';
      return sendProblem(
        reply,
        problem(400, 'bad-request', 'Bad request', `Host: ${message}`, [{ field: 'Host', message }]),
      );
    }
    if (!req.is404) return;
    const path = req.url.split('?')[0] ?? req.url;
    const known = matchers.find((m) => m.pattern.test(path));
    if (known) {
      void reply.header('allow', known.methods.join(', '));
      return sendProblem(
        reply,
        problem(
          405,
          'method-not-allowed',
          'Method not allowed',
          `${req.method} is not allowed here; use ${known.methods.join(', ')}`,
        ),
      );
    }
    return sendProblem(reply, problem(404, 'not-found', 'Not found', `no route for ${req.method} ${path}`));
  });
  app.setNotFoundHandler((req, reply) =>
    sendProblem(
      reply,
      problem(404, 'not-found', 'Not found', `no route for ${req.method} ${req.url.split('?')[0]}`),
    ),
  );

  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    if (err instanceof ValidationError) return sendProblem(reply, validationProblem(err.violations));
    if (err instanceof AuthError) {
      auth.refused(err.reason);
      return sendAuthProblem(reply, err, req.headers.authorization !== undefined);
    }
    if (err instanceof UpstreamError) {
      const p = problemFromUpstream(err);
      if (p.status === 401) void reply.header('www-authenticate', `Bearer realm="${REALM}"`);
      if (p.status >= 500) {
        req.log.warn(
          { upstream: err.upstream, grpcCode: err.code, err: err.details },
          'upstream call failed',
        );
        if (p.status === 503) void reply.header('retry-after', '1');
      }
      return sendProblem(reply, p);
    }
    const fe = err as FastifyError;
    switch (fe.code) {
      case 'GATEWAY_MALFORMED_JSON':
        return sendProblem(
          reply,
          problem(400, 'malformed-json', 'Malformed JSON', fe.message, [
            { field: 'body', message: fe.message },
          ]),
        );
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendProblem(
          reply,
          problem(
            413,
            'payload-too-large',
            'Request body too large',
            'the request body must be at most 65536 bytes',
            [{ field: 'body', message: 'must be at most 65536 bytes' }],
          ),
        );
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendProblem(
          reply,
          problem(
            415,
            'unsupported-media-type',
            'Unsupported media type',
            'request bodies must be application/json',
            [
              {
                field: 'Content-Type',
                message: `must be application/json, not ${req.headers['content-type'] ?? 'missing'}`,
              },
            ],
          ),
        );
    }
    const status = fe.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return sendProblem(reply, problem(status, 'bad-request', 'Bad request', fe.message));
    }
    ctx.logger.error({ err: errorMessage(err), stack: err.stack }, 'unexpected error in a request');
    return sendProblem(reply, INTERNAL);
  });

  for (const r of routes)
    app.route({ method: r.method, url: r.url, handler: r.handler, ...contractHooks(contract.doc, r, auth) });
  app.get('/openapi.yaml', (_req, reply) => reply.type('application/yaml').send(contract.text));
}
