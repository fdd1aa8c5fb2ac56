import { parseEmptyBody, parseUuid } from '../domain/validation';
import type { Upstreams } from './ports';

export function cancelOrder(up: Upstreams, id: unknown, body: unknown) {
  const orderId = parseUuid(id, 'id');
  parseEmptyBody(body);
  return up.cancelOrder(orderId);
}
