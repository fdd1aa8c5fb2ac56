import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '@shop/platform';
import { errorMessage } from '@shop/platform';
import { cancelOrder } from '../../app/cancel-order';
import { getOrder } from '../../app/get-order';
import { getProduct } from '../../app/get-product';
import { listOrders } from '../../app/list-orders';
import { listPayments } from '../../app/list-payments';
import { listProducts } from '../../app/list-products';
import { placeOrder } from '../../app/place-order';
import type { Upstreams } from '../../app/ports';
import { ValidationError } from '../../domain/model';
import type { Violation } from '../../domain/model';
import { UpstreamError } from '../grpc/upstreams';
import { answerClientErrorsAsProblems } from './client-errors';
import type { Problem } from './problems';
import { INTERNAL, PROBLEM_CONTENT_TYPE, problem, problemFromUpstream, validationProblem } from './problems';

/** The package's openapi.yaml; the build copies it into dist/ because container images ship dist/ only. */
export const OPENAPI_PATH = join(__dirname, '..', '..', '..', '..', 'openapi.yaml');
const OPENAPI_CANDIDATES = [join(__dirname, '..', '..', '..', 'openapi.yaml'), OPENAPI_PATH];

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
interface Route {
  method: 'GET' | 'POST';
  url: string;
  handler: Handler;
}

const params = (req: FastifyRequest) => req.params as Record<string, string | undefined>;

/** fastify's default `maxParamLength`: a longer path parameter never reaches a route. */
export const MAX_PARAM_LENGTH = 100;

/** Templates of the API paths that take parameters. */
export const PARAM_PATHS = {
  product: '/v1/products/:sku',
  order: '/v1/orders/:id',
  cancel: '/v1/orders/:id/cancel',
} as const;

/** Values of a repeated header, from the raw headers (Node joins repeated unknown headers into "a, b"). */
export function headerValues(req: FastifyRequest, name: string): string[] {
  const raw = req.raw.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]?.toLowerCase() === name) values.push(raw[i + 1] ?? '');
  return values;
}

/** The REST API (issue 3, Interfaces). */
export function apiRoutes(up: Upstreams): Route[] {
  return [
    { method: 'GET', url: '/v1/products', handler: () => listProducts(up) },
    { method: 'GET', url: PARAM_PATHS.product, handler: (req) => getProduct(up, params(req).sku) },
    {
      method: 'POST',
      url: '/v1/orders',
      handler: async (req, reply) => {
        const keys = headerValues(req, 'idempotency-key');
        const { order, replayed } = await placeOrder(up, req.body, keys.length > 1 ? keys : keys[0]);
        // A replay answers 200 with the order the key first created (its current state); a first request 201.
        void reply.code(replayed ? 200 : 201).header('location', `/v1/orders/${order.id}`);
        if (replayed) void reply.header('idempotent-replayed', 'true');
        return order;
      },
    },
    { method: 'GET', url: '/v1/orders', handler: (req) => listOrders(up, req.query) },
    { method: 'GET', url: PARAM_PATHS.order, handler: (req) => getOrder(up, params(req).id) },
    {
      method: 'POST',
      url: PARAM_PATHS.cancel,
      handler: async (req, reply) => {
        const order = await cancelOrder(up, params(req).id, req.body);
        void reply.code(202);
        return order;
      },
    },
    { method: 'GET', url: '/v1/payments', handler: (req) => listPayments(up, req.query) },
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

export function registerRoutes(app: FastifyInstance, up: Upstreams, ctx: GatewayContext): void {
  const routes = apiRoutes(up);
  const openapiFile = OPENAPI_CANDIDATES.find((f) => existsSync(f));
  const openapi = openapiFile ? readFileSync(openapiFile, 'utf8') : undefined;
  if (!openapi)
    ctx.logger.warn({ looked: OPENAPI_CANDIDATES }, 'openapi.yaml not found; GET /openapi.yaml answers 404');
  routes.push({
    method: 'GET',
    url: '/openapi.yaml',
    handler: async (_req, reply) =>
      openapi
        ? reply.type('application/yaml').send(openapi)
        : sendProblem(
            reply,
            problem(404, 'not-found', 'Not found', 'this build does not include openapi.yaml'),
          ),
  });

  // Path templates -> allowed methods, to tell an unknown path (404) from a known one with a wrong method (405).
  const templates = [
    ...routes.map((r) => ({ url: r.url, method: r.method })),
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
    if (err instanceof UpstreamError) {
      const p = problemFromUpstream(err);
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

  for (const r of routes) app.route({ method: r.method, url: r.url, handler: r.handler });
}
