// The real orders, inventory and payments, booted in-process on free ports against the test run's PostgreSQL and
// Kafka (`npm test` provisions them; see @shop/testkit).
import { loadConfig } from '@shop/platform';
import * as inventory from '@shop/inventory';
import * as orders from '@shop/orders';
import * as payments from '@shop/payments';
import { serviceEnv, testInfra } from '@shop/testkit';
import { acquireIssuer, quiet, releaseIssuer } from './support';

export interface Stack {
  addresses: { orders: string; inventory: string; payments: string };
  stop(): Promise<void>;
}

interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly ports: { grpc: number };
}

export async function startBackends(): Promise<Stack> {
  const infra = testInfra();
  const { url: issuerUrl } = await acquireIssuer();
  const started: Startable[] = [];
  const boot = async (svc: Startable) => {
    started.push(svc);
    await svc.start();
    return `127.0.0.1:${svc.ports.grpc}`;
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const svc of started.reverse()) await svc.stop().catch(() => undefined);
    await releaseIssuer();
  };
  try {
    const inv = await boot(
      inventory.createService(loadConfig(inventory.schema, serviceEnv('inventory', infra)), {
        logger: quiet(),
      }),
    );
    const pay = await boot(
      payments.createService(
        loadConfig(payments.schema, serviceEnv('payments', infra, { OIDC_ISSUER: issuerUrl })),
        { logger: quiet() },
      ),
    );
    const ord = await boot(
      orders.createService(
        loadConfig(
          orders.schema,
          serviceEnv('orders', infra, { INVENTORY_ADDR: inv, OIDC_ISSUER: issuerUrl }),
        ),
        {
          logger: quiet(),
        },
      ),
    );
    return { addresses: { orders: ord, inventory: inv, payments: pay }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
