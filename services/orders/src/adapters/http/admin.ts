import type { AdminRoutes } from '@shop/platform';

/**
 * Orders' routes on its admin API (127.0.0.1:ADMIN_PORT, beside the faults): `GET /sagas/parked`, what
 * `npm run sagas -- list` prints, as JSON `{ items: [...] }`. The gateway's operator view proxies it.
 */
export function parkedSagasRoute(list: () => Promise<readonly object[]>): AdminRoutes {
  return (app) => {
    app.get('/sagas/parked', async () => ({ items: await list() }));
  };
}
