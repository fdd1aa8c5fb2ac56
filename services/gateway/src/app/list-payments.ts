import { parseListPayments } from '../domain/validation';
import type { Upstreams } from './ports';

export async function listPayments(up: Upstreams, query: unknown) {
  return { items: await up.listPayments(parseListPayments(query)) };
}
