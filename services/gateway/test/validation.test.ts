// Unit tests of the edge's own validation, the schemas of openapi.yaml compiled as the routes compile them (the
// bad-input tests exercise the same rules through HTTP).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OperationContract } from '../src/adapters/http/contract';
import {
  RequestViolations,
  compileHeaderChecks,
  compileValidator,
  jsonPath,
  loadOpenApi,
  operationContract,
} from '../src/adapters/http/contract';

const contract = loadOpenApi();
assert.ok(contract, 'openapi.yaml is found');
const op = (id: string) => operationContract(contract.doc, id);

/** Validates one part of a request as the route would, answering the value it passes on or the violations. */
function check(o: OperationContract, part: 'body' | 'querystring', data: unknown) {
  const schema = o.schema[part];
  assert.ok(schema);
  const result = compileValidator({ schema, httpPart: part })(data);
  if (result.error) {
    assert.ok(result.error instanceof RequestViolations);
    return { violations: result.error.violations };
  }
  return { value: result.value };
}
const fields = (r: { violations?: { field: string }[] }) => (r.violations ?? []).map((v) => v.field).sort();

const placeOrder = op('placeOrder');
const listOrders = op('listOrders');

describe('validation', () => {
  it('accepts a valid order', () => {
    const body = { customerId: 'a.b_c-1', items: [{ sku: 'SKU-1', quantity: 1000 }] };
    assert.deepEqual(check(placeOrder, 'body', body), { value: body });
  });

  it('accepts exactly 100 lines and a 128-character key', () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ sku: `S${i}`, quantity: 1 }));
    assert.deepEqual(check(placeOrder, 'body', { customerId: 'c', items }).violations, undefined);
    assert.deepEqual(
      compileHeaderChecks(placeOrder)(() => ['k'.repeat(128)]),
      [],
    );
  });

  it('quantity 1e3 is 1000, 1e400 is not a whole number', () => {
    assert.equal(
      check(placeOrder, 'body', { customerId: 'c', items: [{ sku: 'S', quantity: 1e3 }] }).value !==
        undefined,
      true,
    );
    const r = check(
      placeOrder,
      'body',
      JSON.parse('{"customerId":"c","items":[{"sku":"S","quantity":1e400}]}'),
    );
    assert.deepEqual(fields(r), ['items[0].quantity']);
    assert.match(r.violations?.[0]?.message ?? '', /whole number/);
  });

  it('names every violation of a body with several bad fields, once each, without echoing the input', () => {
    const r = check(placeOrder, 'body', {
      customerId: 'has space',
      items: [
        { sku: 'SKU 1', quantity: 0, price: 1 },
        { sku: 'SKU-2', quantity: '2' },
        { sku: 'SKU-2', quantity: 1 },
      ],
      coupon: 'FREE',
    });
    assert.deepEqual(fields(r), [
      'coupon',
      'customerId',
      'items[0].price',
      'items[0].quantity',
      'items[0].sku',
      'items[1].quantity',
      'items[2].sku',
    ]);
    const text = JSON.stringify(r.violations);
    for (const input of ['has space', 'SKU 1', 'FREE']) assert.ok(!text.includes(input), text);
    const by = Object.fromEntries((r.violations ?? []).map((v) => [v.field, v.message]));
    assert.equal(by['items[1].quantity'], 'must be a number, not string');
    assert.match(by['items[2].sku'] ?? '', /duplicates items\[1\]\.sku/);
  });

  it('reports a bad key, and a key sent twice', () => {
    const headers = compileHeaderChecks(placeOrder);
    assert.deepEqual(
      headers(() => ['']).map((v) => v.field),
      ['Idempotency-Key'],
    );
    assert.match(headers(() => ['a', 'b'])[0]?.message ?? '', /once, got 2/);
  });

  it('names odd keys with bracket paths', () => {
    assert.equal(jsonPath('items[0]', 'unit price'), 'items[0]["unit price"]');
    assert.equal(jsonPath('', 'x'), 'x');
    assert.equal(jsonPath('items[0]', 'x'), 'items[0].x');
  });

  it('list query: limit read as a number, a real cursor accepted, empty values refused', () => {
    assert.deepEqual(check(listOrders, 'querystring', { customerId: 'c' }), { value: { customerId: 'c' } });
    assert.deepEqual(
      check(listOrders, 'querystring', {
        customerId: 'c',
        status: 'APPROVED',
        limit: '100',
        cursor: 'abc_-',
      }),
      { value: { customerId: 'c', status: 'APPROVED', limit: 100, cursor: 'abc_-' } },
    );
    // An empty value is a value: `status=` is no status of the enum, `cursor=` no cursor (issue 13: the document's
    // patterns forbid both, and a client meaning "no filter" leaves the parameter out).
    assert.deepEqual(fields(check(listOrders, 'querystring', { customerId: '', status: '', cursor: '' })), [
      'cursor',
      'customerId',
      'status',
    ]);
  });
});
