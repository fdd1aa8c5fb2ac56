import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { FaultRegistry } from './faults';
import { FAULT_CATALOG, FAULT_NAMES, FaultValidationError } from './faults';
import type { Logger } from './logger';

/** The admin API always binds to loopback: it is reached from the host itself or `kubectl port-forward`, never
 * through a Service, an ingress or the gateway's public port. */
export const ADMIN_HOST = '127.0.0.1';

const PROBLEM = 'application/problem+json';

function problem(
  status: number,
  title: string,
  detail: string,
  errors: { field: string; message: string }[] = [],
) {
  return {
    type: `https://errors.cloud-native-shop.dev/${status === 404 ? 'not-found' : 'invalid-fault'}`,
    title,
    status,
    detail,
    errors,
  };
}

export interface AdminServer {
  app: FastifyInstance;
  listen(port: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * The fault admin API on its own listener: `GET /faults`, `PUT /faults/<name>` (JSON parameters),
 * `DELETE /faults/<name>`. Bad names or parameters: 400 problem+json naming each problem.
 */
export function createAdminServer(faults: FaultRegistry, logger: Logger): AdminServer {
  const loggerInstance: FastifyBaseLogger = logger.child({ component: 'admin' });
  const app: FastifyInstance = Fastify({
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
  });
  // An empty body is "no parameters" (every parameter has a default or is a scope).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body).trim();
    if (text === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(Object.assign(new Error(`body is not JSON: ${(err as Error).message}`), { statusCode: 400 }));
    }
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err instanceof FaultValidationError ? 400 : (err.statusCode ?? 500);
    const errors = err instanceof FaultValidationError ? err.issues : [];
    return reply
      .code(status)
      .type(PROBLEM)
      .send(problem(status, status === 400 ? 'Invalid fault' : 'Admin API error', err.message, errors));
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .type(PROBLEM)
      .send(
        problem(
          404,
          'Not found',
          `${req.method} ${req.url}: the admin API serves GET /faults, PUT and DELETE /faults/<name>`,
        ),
      ),
  );

  const view = () => ({
    service: faults.service,
    active: faults.list(),
    available: FAULT_NAMES.map((name) => ({
      name,
      description: FAULT_CATALOG[name].description,
      scope: FAULT_CATALOG[name].scope,
      parameters: Object.keys(FAULT_CATALOG[name].schema.shape),
    })),
  });
  app.get('/faults', () => view());
  app.put<{ Params: { name: string } }>('/faults/:name', (req, reply) => {
    const fault = faults.set(req.params.name, req.body ?? {}, 'admin');
    return reply.code(200).send(fault);
  });
  app.delete<{ Params: { name: string } }>('/faults/:name', (req) => {
    const was = faults.clear(req.params.name, 'admin');
    return { name: req.params.name, wasActive: was, active: false };
  });

  return {
    app,
    async listen(port) {
      try {
        await app.listen({ host: ADMIN_HOST, port });
      } catch (err) {
        if ((err as { code?: string }).code === 'EADDRINUSE')
          throw new Error(
            `admin port ${port} on ${ADMIN_HOST} is already in use; set ADMIN_PORT to a free port`,
            { cause: err },
          );
        throw err;
      }
      const a = app.server.address();
      return typeof a === 'object' && a ? a.port : port;
    },
    close: () => app.close(),
  };
}
