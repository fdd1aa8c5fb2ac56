import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rules } from '../src';

void test('identifiers: what each rule accepts and refuses, whole values only', () => {
  const cases: [rules.StringRule, string[], string[]][] = [
    [rules.CUSTOMER_ID, ['alice', 'a.b_c-1', 'c'.repeat(64)], ['', 'john doe', 'a/b', 'c'.repeat(65), 'é']],
    [rules.SKU, ['SKU-0001', 'x'], ['', 'SKU 0001', 'SKU!1', 's'.repeat(65)]],
    [
      rules.UUID,
      ['0b9e7c1a-5d0e-4c4b-9a35-2f1f5e0f8a11', '0B9E7C1A-5D0E-4C4B-9A35-2F1F5E0F8A11'],
      ['123', 'urn:uuid:0b9e7c1a-5d0e-4c4b-9a35-2f1f5e0f8a11', '0b9e7c1a5d0e4c4b9a352f1f5e0f8a11'],
    ],
    [rules.CURSOR, ['bm90LWEtY3Vyc29y', 'a_-', 'a'.repeat(200)], ['', 'a b', 'abc=', 'a/b', 'a'.repeat(201)]],
    [rules.IDEMPOTENCY_KEY, ['k', 'k 1', '~'.repeat(128)], ['', 'a\tb', 'clé', 'k'.repeat(129)]],
  ];
  for (const [rule, good, bad] of cases) {
    for (const v of good) assert.equal(rules.checkString(rule, v), undefined, `${rule.pattern} accepts ${v}`);
    for (const v of bad)
      assert.equal(rules.checkString(rule, v), rule.message, `${rule.pattern} refuses ${v}`);
  }
});

void test('limits: bounds inclusive, fractions refused, and the message states the bounds', () => {
  for (const rule of [rules.QUANTITY, rules.ORDER_LINES, rules.PAGE_SIZE]) {
    assert.equal(rules.checkInteger(rule, rule.min), undefined);
    assert.equal(rules.checkInteger(rule, rule.max), undefined);
    for (const v of [rule.min - 1, rule.max + 1, 1.5, Number.NaN, Infinity])
      assert.equal(rules.checkInteger(rule, v), rule.message);
    assert.match(rule.message, new RegExp(`${rule.min}\\b.*\\b${rule.max}\\b`));
  }
  assert.ok(rules.DEFAULT_PAGE_SIZE >= rules.PAGE_SIZE.min && rules.DEFAULT_PAGE_SIZE <= rules.PAGE_SIZE.max);
  assert.equal(
    rules.duplicateSkuMessage(0),
    'duplicates items[0].sku; order each sku once with its total quantity',
  );
});
