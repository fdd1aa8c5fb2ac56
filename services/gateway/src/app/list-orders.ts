import { parseListOrders } from '../domain/validation';
import type { Upstreams } from './ports';

export function listOrders(up: Upstreams, query: unknown) {
  return up.listOrders(parseListOrders(query));
}
