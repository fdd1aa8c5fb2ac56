import { parseUuid } from '../domain/validation';
import type { Upstreams } from './ports';

export function getOrder(up: Upstreams, id: unknown) {
  return up.getOrder(parseUuid(id, 'id'));
}
