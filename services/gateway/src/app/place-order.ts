import { parsePlaceOrder } from '../domain/validation';
import type { Upstreams } from './ports';

/** Validates everything the edge can check itself before orders sees the request: nothing is sent otherwise. */
export function placeOrder(up: Upstreams, body: unknown, idempotencyKey: unknown) {
  return up.placeOrder(parsePlaceOrder(body, idempotencyKey));
}
