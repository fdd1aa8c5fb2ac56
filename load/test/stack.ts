import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { testInfra, testIssuer } from '@shop/testkit';
import type { TestIssuer } from '@shop/testkit';

const repo = join(__dirname, '..', '..', '..');

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  logs: Record<string, unknown>[];
  httpPort: number;
  grpcPort: number;
}

/**
 * Starts one service as its own process, exactly as `npm start` does (`--require` of the instrumentation first),
 * on free ports; resolves once it logged that it is ready.
 */
export function startService(
  name: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ServiceProcess> {
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      '--require',
      './dist/src/instrumentation.js',
      'dist/src/main.js',
    ],
    {
      cwd: join(repo, 'services', name),
      env: {
        PATH: process.env.PATH ?? '',
        BIND_HOST: '127.0.0.1',
        HTTP_PORT: '0',
        GRPC_PORT: '0',
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const svc: ServiceProcess = { name, child, logs: [], httpPort: 0, grpcPort: 0 };
  const stderr: string[] = [];
  createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} not ready in ${timeoutMs} ms; stderr: ${stderr.join('\n')}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${name} exited with ${code} before it was ready: ${JSON.stringify(svc.logs.slice(-5))} ${stderr.join('\n')}`,
        ),
      );
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      svc.logs.push(entry);
      if (entry.msg === `${name} ready`) {
        svc.httpPort = Number(entry.httpPort);
        svc.grpcPort = Number(entry.grpcPort ?? 0);
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(svc);
      }
    });
  });
}

export function stopService(svc: ServiceProcess, timeoutMs = 10_000): Promise<number | null> {
  return new Promise((resolve) => {
    if (svc.child.exitCode !== null) return resolve(svc.child.exitCode);
    const t = setTimeout(() => svc.child.kill('SIGKILL'), timeoutMs);
    svc.child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    svc.child.kill('SIGTERM');
  });
}

/** What a service needs to accept the tokens of `issuer` (@shop/platform's auth configuration). */
export const authEnv = (issuer: Pick<TestIssuer, 'url'>): Record<string, string> => ({
  AUTH_MODE: 'oidc',
  OIDC_ISSUER: issuer.url,
});

export interface Stack {
  services: Record<'inventory' | 'payments' | 'orders' | 'gateway', ServiceProcess>;
  gateway: string;
  /** The real issuer (in this process) whose tokens the services accept; `issuer.client` signs customers in. */
  issuer: TestIssuer;
  /** Stops the services (exit codes in stop order), and the issuer when the stack started its own. */
  stop(): Promise<(number | null)[]>;
}

/**
 * The four services as separate processes against the test run's PostgreSQL and Kafka, accepting the tokens of
 * `opts.issuer` (one started for this stack when absent: two stacks of one test share an issuer to share tokens).
 */
export async function startStack(
  extraEnv: Record<string, string> = {},
  opts: { issuer?: TestIssuer } = {},
): Promise<Stack> {
  const infra = testInfra();
  const issuer = opts.issuer ?? (await testIssuer());
  const own = !opts.issuer;
  extraEnv = { ...authEnv(issuer), ...extraEnv };
  const backend = (name: string) => ({
    DATABASE_URL: infra.databaseUrls[name] ?? '',
    KAFKA_BROKERS: infra.kafkaBrokers,
    ...extraEnv,
  });
  const [inventory, payments] = await Promise.all([
    startService('inventory', backend('inventory')),
    startService('payments', backend('payments')),
  ]);
  const orders = await startService('orders', {
    ...backend('orders'),
    INVENTORY_ADDR: `127.0.0.1:${inventory.grpcPort}`,
  });
  const gateway = await startService('gateway', {
    ORDERS_ADDR: `127.0.0.1:${orders.grpcPort}`,
    INVENTORY_ADDR: `127.0.0.1:${inventory.grpcPort}`,
    PAYMENTS_ADDR: `127.0.0.1:${payments.grpcPort}`,
    ...extraEnv,
  });
  const services = { inventory, payments, orders, gateway };
  return {
    services,
    gateway: `http://127.0.0.1:${gateway.httpPort}`,
    issuer,
    async stop() {
      const codes = await Promise.all([gateway, orders, payments, inventory].map((s) => stopService(s)));
      if (own) await issuer.stop();
      return codes;
    },
  };
}
