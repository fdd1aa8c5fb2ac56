import type { Upstreams } from './ports';

export async function listProducts(up: Upstreams) {
  return { items: await up.listProducts() };
}
