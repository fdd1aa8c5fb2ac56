// The real orders, inventory and payments in-process on free ports (the test run's PostgreSQL and Kafka), each with
// its fault admin API on a free loopback port, for the console's operator views.
import { loadConfig } from '@shop/platform';
import * as inventory from '@shop/inventory';
import * as orders from '@shop/orders';
import * as payments from '@shop/payments';
import { serviceEnv, testInfra } from '@shop/testkit';
import { quiet } from '../support';

export interface Platform {
  addresses: { orders: string; inventory: string; payments: string };
  /** Base URLs of the services' admin APIs (FAULT_ADMIN_URLS of the gateway). */
  adminUrls: { orders: string; inventory: string; payments: string };
  stop(): Promise<void>;
}

interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly ports: { grpc: number; admin: number };
}

export async function startPlatform(env: Record<string, string> = {}): Promise<Platform> {
  const infra = testInfra();
  const started: Startable[] = [];
  const boot = async (svc: Startable) => {
    started.push(svc);
    await svc.start();
    return { grpc: `127.0.0.1:${svc.ports.grpc}`, admin: `http://127.0.0.1:${svc.ports.admin}` };
  };
  const stop = async () => {
    for (const svc of started.reverse()) await svc.stop().catch(() => undefined);
  };
  const own = { ADMIN_PORT: '0', ...env };
  try {
    const inv = await boot(
      inventory.createService(loadConfig(inventory.schema, serviceEnv('inventory', infra, own)), {
        logger: quiet(),
      }),
    );
    const pay = await boot(
      payments.createService(loadConfig(payments.schema, serviceEnv('payments', infra, own)), {
        logger: quiet(),
      }),
    );
    const ord = await boot(
      orders.createService(
        loadConfig(orders.schema, serviceEnv('orders', infra, { ...own, INVENTORY_ADDR: inv.grpc })),
        { logger: quiet() },
      ),
    );
    return {
      addresses: { orders: ord.grpc, inventory: inv.grpc, payments: pay.grpc },
      adminUrls: { orders: ord.admin, inventory: inv.admin, payments: pay.admin },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
