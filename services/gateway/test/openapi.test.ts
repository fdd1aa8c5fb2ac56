// openapi.yaml is the contract the demo, check:consistency and bench:saga are written against: it must describe
// exactly the routes the gateway serves and the problem types it sends.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { rules } from '@shop/contracts';
import type { Upstreams } from '../src/app/ports';
import { NAMED_RULES } from '../src/adapters/http/contract';
import { ORDER_STATUSES, PAYMENT_STATUSES, REJECTION_REASONS } from '../src/domain/model';
import { GRPC_TO_HTTP, PROBLEM_BASE } from '../src/adapters/http/problems';
import { OPENAPI_PATH, apiRoutes } from '../src/adapters/http/routes';

interface Doc {
  openapi: string;
  info: { description: string };
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Record<string, unknown>> };
}
const text = readFileSync(OPENAPI_PATH, 'utf8');
const doc = parse(text) as Doc;

describe('openapi.yaml', () => {
  it('is OpenAPI 3.1', () => {
    assert.equal(doc.openapi, '3.1.0');
  });

  it('documents every API route with its method, and no other', () => {
    const served = apiRoutes({} as Upstreams)
      .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z]+)/g, '{$1}')}`)
      .sort();
    const documented = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(documented, served);
  });

  it("states each route's authentication as the route table does (issue 11)", () => {
    const schemes = (doc.components as { securitySchemes?: Record<string, { type: string }> })
      .securitySchemes;
    assert.equal(schemes?.bearer?.type, 'http');
    assert.equal(schemes?.oidc?.type, 'openIdConnect');
    for (const r of apiRoutes({} as Upstreams)) {
      const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
      const op = doc.paths[path]?.[r.method.toLowerCase()] as
        { security?: Record<string, unknown>[]; responses: Record<string, unknown> } | undefined;
      assert.ok(op?.security, `${r.method} ${path} states its security`);
      if (r.auth === 'public') assert.deepEqual(op.security, [], `${r.method} ${path} is public`);
      else {
        assert.deepEqual(op.security.map((s) => Object.keys(s)[0]).sort(), ['bearer', 'oidc'], path);
        assert.ok(op.responses['401'] && op.responses['403'], `${r.method} ${path} documents 401 and 403`);
      }
    }
    for (const slug of ['unauthenticated', 'forbidden', 'auth-unavailable'])
      assert.ok(text.includes(`${PROBLEM_BASE}${slug}`), `${slug} is not documented`);
  });

  it('lists every problem type the status table can produce', () => {
    for (const m of Object.values(GRPC_TO_HTTP)) {
      assert.ok(m && text.includes(`${PROBLEM_BASE}${m.slug}`), `${m?.slug} is not documented`);
    }
    for (const slug of [
      'validation-failed',
      'malformed-json',
      'method-not-allowed',
      'payload-too-large',
      'unsupported-media-type',
      'internal',
    ]) {
      assert.ok(text.includes(`${PROBLEM_BASE}${slug}`), `${slug} is not documented`);
    }
  });

  it('resolves every $ref', () => {
    const refs = [...text.matchAll(/\$ref: '#\/([^']+)'/g)].map((m) => m[1] ?? '');
    assert.ok(refs.length > 10);
    for (const ref of refs) {
      let node: unknown = doc;
      for (const part of ref.split('/')) node = (node as Record<string, unknown> | undefined)?.[part];
      assert.ok(node !== undefined, `dangling $ref #/${ref}`);
    }
  });

  it('states each shared rule exactly as @shop/contracts does, wherever it names one', () => {
    const named: { rule: string; schema: Record<string, unknown> }[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (typeof node === 'object' && node !== null) {
        const rule = (node as { 'x-rule'?: unknown })['x-rule'];
        if (typeof rule === 'string') named.push({ rule, schema: node as Record<string, unknown> });
        Object.values(node).forEach(walk);
      }
    };
    walk(doc);
    assert.deepEqual(
      [...new Set(named.map((n) => n.rule))].sort(),
      Object.keys(NAMED_RULES).sort(),
      'every shared rule is stated in the document, and only those',
    );
    for (const { rule, schema } of named) {
      const r = NAMED_RULES[rule];
      assert.ok(r);
      if ('pattern' in r) assert.equal(schema.pattern, r.pattern.source, `${rule}: pattern`);
      else if (schema.type === 'array') {
        assert.deepEqual([schema.minItems, schema.maxItems], [r.min, r.max], `${rule}: item count`);
      } else assert.deepEqual([schema.minimum, schema.maximum], [r.min, r.max], `${rule}: bounds`);
    }
    assert.equal(doc.components.schemas.PageSize?.default, rules.DEFAULT_PAGE_SIZE);
  });

  it('lists the statuses and reasons the REST views use', () => {
    const s = doc.components.schemas;
    assert.deepEqual(s.OrderStatus?.enum, [...ORDER_STATUSES]);
    const order = s.Order as { properties: { rejectionReason: { enum: unknown[] } } };
    assert.deepEqual(order.properties.rejectionReason.enum, [...REJECTION_REASONS, null]);
    const payment = s.Payment as { properties: { status: { enum: unknown[] } } };
    assert.deepEqual(payment.properties.status.enum, [...PAYMENT_STATUSES]);
  });
});
