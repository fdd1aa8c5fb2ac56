import type { Logger, RunningService, GatewayContext } from '@shop/platform';
import {
  checkHealth,
  createAuthenticator,
  createEdge,
  dependencySettings,
  errorMessage,
} from '@shop/platform';
import { createGrpcUpstreams } from './adapters/grpc/upstreams';
import type { GrpcUpstreams } from './adapters/grpc/upstreams';
import { LabBoard, gatewayAdminRoutes } from './adapters/http/admin';
import { registerConsole } from './adapters/http/console';
import { frameworkErrors, registerRoutes } from './adapters/http/routes';
import type { Config } from './config';

export type { Config } from './config';
export { schema } from './config';

/** Request bodies above this are refused with 413 (issue 3, Bad input). */
export const BODY_LIMIT_BYTES = 64 * 1024;

export type GatewayService = RunningService & { readonly gateway: GatewayContext };

/**
 * The REST edge: stateless, no database and no Kafka. Ready while at least one of orders, inventory and payments
 * answers `grpc.health.v1.Health/Check` with SERVING ("degraded" when one is down: the routes of the healthy ones keep
 * working, those of the down one answer 503 problems); not ready when none does.
 */
export function createService(config: Config, opts: { logger?: Logger } = {}): GatewayService {
  const upstreamAddrs = {
    orders: config.ORDERS_ADDR,
    inventory: config.INVENTORY_ADDR,
    payments: config.PAYMENTS_ADDR,
  };
  // The platform's /readyz gives each check 2 s; answer within that.
  const healthDeadline = Math.min(config.GRPC_DEADLINE_MS, 1500);
  const readiness = (ctx: GatewayContext) =>
    Object.fromEntries(
      Object.entries(upstreamAddrs).map(([name, address]) => [
        name,
        // The reason, with the address, goes to the gateway's log; /readyz itself says only up or down.
        async () => {
          const tls = ctx.tls ? { tls: ctx.tls, peer: name } : undefined;
          const serving = await checkHealth(address, healthDeadline, tls).catch((err: unknown) => {
            throw new Error(`${name} (${address}): ${errorMessage(err)}`);
          });
          if (!serving) throw new Error(`${name} (${address}) is not SERVING`);
        },
      ]),
    );
  let upstreams: GrpcUpstreams | undefined;
  const labs = new LabBoard();
  return createEdge(
    'gateway',
    config,
    (app, ctx) => {
      upstreams = createGrpcUpstreams(upstreamAddrs, {
        deadlineMs: config.GRPC_DEADLINE_MS,
        metrics: ctx.metrics,
        logger: ctx.logger,
        settings: dependencySettings(config),
        ...(ctx.tls ? { tls: ctx.tls } : {}),
      });
      const auth = createAuthenticator(config, { logger: ctx.logger, registry: ctx.metrics.registry });
      registerRoutes(app, upstreams, ctx, auth, { faultAdmins: config.FAULT_ADMIN_URLS, labs });
      registerConsole(app, consoleOptions(config));
    },
    readiness,
    {
      ...(opts.logger ? { logger: opts.logger } : {}),
      bodyLimit: BODY_LIMIT_BYTES,
      adminRoutes: gatewayAdminRoutes(labs),
      http: { frameworkErrors, requireHostHeader: false, readyWhen: 'any' },
      onStop: async () => {
        upstreams?.close();
        upstreams = undefined;
        await Promise.resolve();
      },
    },
  );
}

/** What the console's config.json says, from the gateway's configuration. */
function consoleOptions(config: Config) {
  // AUTH_MODE and OIDC_ISSUER are the platform's auth configuration (shared by gateway, orders and payments).
  const auth = config as Config & { AUTH_MODE?: string; OIDC_ISSUER?: string };
  return {
    issuerUrl: config.CONSOLE_ISSUER_URL ?? auth.OIDC_ISSUER,
    clientId: 'shop-console',
    tracesUiUrl: config.TRACES_UI_URL,
    metricsUiUrl: config.METRICS_UI_URL,
    authMode: auth.AUTH_MODE ?? 'open',
  };
}
