import { authConfig, clientConfig, commonConfig, env, z } from '@shop/platform';

const SERVICE_NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** `FAULT_ADMIN_URLS`: `name=http://host:port,...`, the fault admin APIs the operator view reads and switches. */
function faultAdminUrls() {
  return z
    .preprocess(
      (v) => (v === '' ? undefined : v),
      z
        .string()
        .optional()
        .transform((s, ctx) => {
          const out: Record<string, string> = {};
          for (const part of (s ?? '').split(',').filter((p) => p.trim() !== '')) {
            const [name = '', url = ''] = part.trim().split(/=(.*)/s);
            let ok = SERVICE_NAME.test(name) && !(name in out);
            try {
              ok &&= ['http:', 'https:'].includes(new URL(url).protocol);
            } catch {
              ok = false;
            }
            if (!ok) {
              ctx.addIssue({
                code: 'custom',
                message: `expected name=http://host:port entries separated by commas (a name once), got "${part.trim()}"`,
              });
              return z.NEVER;
            }
            out[name] = url.replace(/\/+$/, '');
          }
          return out;
        }),
    )
    .describe(
      'fault admin APIs of the services for the operator view, e.g. orders=http://127.0.0.1:9181,payments=...; unset: none',
    );
}

/** The gateway's environment (docs/architecture.md): no database and no Kafka, three gRPC upstreams. */
export const schema = z.object({
  ...commonConfig(8080),
  HTTP_PORT: env.port(8080, 'HTTP port of the REST API, the probes (/livez, /readyz) and /metrics'),
  ORDERS_ADDR: env.address('127.0.0.1:50051', 'gRPC address (host:port) of the orders service'),
  INVENTORY_ADDR: env.address('127.0.0.1:50052', 'gRPC address (host:port) of the inventory service'),
  PAYMENTS_ADDR: env.address('127.0.0.1:50053', 'gRPC address (host:port) of the payments service'),
  ...clientConfig(),
  ...authConfig(),
  // The web console (docs/console.md) and its operator views.
  CONSOLE_ISSUER_URL: env.optionalHttpUrl(
    'OpenID issuer the console signs in against (browser-facing URL; default: OIDC_ISSUER)',
  ),
  TRACES_UI_URL: env.optionalHttpUrl(
    'base URL of a trace viewer: the console links ${TRACES_UI_URL}/traces/<traceId>; unset: no trace links',
  ),
  METRICS_UI_URL: env.optionalHttpUrl(
    'base URL of a Prometheus UI: the console links its graphs; unset: no metrics links',
  ),
  FAULT_ADMIN_URLS: faultAdminUrls(),
});

export type Config = z.infer<typeof schema>;
