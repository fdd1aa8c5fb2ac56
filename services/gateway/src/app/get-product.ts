import { parseSku } from '../domain/validation';
import type { Upstreams } from './ports';

export function getProduct(up: Upstreams, sku: unknown) {
  return up.getProduct(parseSku(sku));
}
