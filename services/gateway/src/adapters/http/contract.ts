// The REST contract, read from openapi.yaml and nothing else: each operation's path, query, header and body rules
// become the fastify route's schemas, checked by ajv with every error collected, and each error becomes a violation
// `{ field, message }`. The words of a message come from the shared rules of @shop/contracts, named in the document
// by `x-rule`, so the gateway and the backends say the same thing; a message never repeats the value it refuses.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rules } from '@shop/contracts';
import Ajv from 'ajv';
import type { ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import type { Violation } from '../../domain/model';

/** The package's openapi.yaml; the build copies it into dist/ because container images ship dist/ only. */
export const OPENAPI_PATH = join(__dirname, '..', '..', '..', '..', 'openapi.yaml');
const OPENAPI_CANDIDATES = [join(__dirname, '..', '..', '..', 'openapi.yaml'), OPENAPI_PATH];

type Schema = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: Schema;
}

interface Operation {
  operationId: string;
  /** Query parameters of which at least one must be given (a rule OpenAPI has no schema for). */
  'x-require-one-of'?: string[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, Record<string, unknown>>;
}

/** The rules an `x-rule` in openapi.yaml may name, with the message a client reads. */
export const NAMED_RULES: Readonly<Record<string, rules.StringRule | rules.IntegerRule>> = {
  customerId: rules.CUSTOMER_ID,
  sku: rules.SKU,
  uuid: rules.UUID,
  cursor: rules.CURSOR,
  idempotencyKey: rules.IDEMPOTENCY_KEY,
  quantity: rules.QUANTITY,
  orderLines: rules.ORDER_LINES,
  pageSize: rules.PAGE_SIZE,
};

/** The document's text (served at GET /openapi.yaml) and its parsed form, or undefined when the build lacks it. */
export function loadOpenApi(): { file: string; text: string; doc: OpenApiDocument } | undefined {
  const file = OPENAPI_CANDIDATES.find((f) => existsSync(f));
  if (!file) return undefined;
  const text = readFileSync(file, 'utf8');
  return { file, text, doc: parse(text) as OpenApiDocument };
}

/** `{ $ref: '#/components/...' }` replaced by what it points at, everywhere (the document has no cycles). */
function deref(doc: OpenApiDocument, node: unknown): unknown {
  if (Array.isArray(node)) return node.map((n) => deref(doc, n));
  if (typeof node !== 'object' || node === null) return node;
  const ref = (node as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') {
    let target: unknown = doc;
    for (const part of ref.replace(/^#\//, '').split('/')) target = (target as Schema | undefined)?.[part];
    if (target === undefined) throw new Error(`openapi.yaml: dangling $ref ${ref}`);
    return deref(doc, target);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deref(doc, v)]));
}

/** The request rules of one operation, as fastify route schemas plus the header parameters. */
export interface OperationContract {
  method: string;
  path: string;
  schema: { params?: Schema; querystring?: Schema; body?: Schema };
  bodyRequired: boolean;
  headers: { name: string; schema: Schema }[];
  requireOneOf?: string[];
}

const objectOf = (params: Parameter[]): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
  required: params.filter((p) => p.required).map((p) => p.name),
});

export function operationContract(doc: OpenApiDocument, operationId: string): OperationContract {
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(ops)) {
      if (raw.operationId !== operationId) continue;
      const op = deref(doc, raw) as Operation;
      const params = op.parameters ?? [];
      const pick = (where: Parameter['in']) => params.filter((p) => p.in === where);
      const schema: OperationContract['schema'] = {};
      if (pick('path').length > 0) schema.params = objectOf(pick('path'));
      // Unknown query parameters are refused as unknown fields are: a misspelt filter would silently list everything.
      schema.querystring = objectOf(pick('query'));
      const body = op.requestBody?.content['application/json']?.schema;
      if (body) schema.body = body;
      return {
        method: method.toUpperCase(),
        path,
        schema,
        bodyRequired: op.requestBody?.required === true,
        headers: pick('header').map((p) => ({ name: p.name, schema: p.schema })),
        ...(op['x-require-one-of'] ? { requireOneOf: op['x-require-one-of'] } : {}),
      };
    }
  }
  throw new Error(`openapi.yaml has no operation ${operationId}`);
}

type HttpPart = 'body' | 'params' | 'querystring' | 'headers';

/** `x-unique-by: sku` on an array: no two items with the same `sku` (JSON Schema's uniqueItems compares whole items). */
function uniqueBy(key: string, data: unknown): ErrorObject[] {
  if (!Array.isArray(data)) return [];
  const first = new Map<unknown, number>();
  const errors: ErrorObject[] = [];
  data.forEach((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || !(key in item)) return;
    const value = (item as Record<string, unknown>)[key];
    if (typeof value !== 'string') return;
    const seen = first.get(value);
    if (seen === undefined) first.set(value, i);
    else
      // ajv fills in instancePath (the array's) and schemaPath when they are left out.
      errors.push({
        keyword: 'x-unique-by',
        params: { index: i, key, first: seen },
      } as unknown as ErrorObject);
  });
  return errors;
}

function createAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, coerceTypes, strict: true, useDefaults: false });
  addFormats(ajv, ['uuid', 'date-time', 'uri']);
  ajv.addVocabulary(['example', 'x-rule']);
  ajv.addKeyword({
    keyword: 'x-unique-by',
    type: 'array',
    schemaType: 'string',
    errors: true,
    validate: function check(key: string, data: unknown) {
      const errors = uniqueBy(key, data);
      (check as { errors?: ErrorObject[] }).errors = errors;
      return errors.length === 0;
    },
  });
  return ajv;
}

// A body is JSON and keeps its types ("2" is not a quantity); path, query and header values are text, so a numeric
// parameter such as `limit` is read as a number first.
const bodyAjv = createAjv(false);
const textAjv = createAjv(true);

/** fastify's `validatorCompiler` for the routes of openapi.yaml. */
export function compileValidator({
  schema,
  httpPart,
}: {
  schema: Schema;
  httpPart?: string;
}): (data: unknown) => { value?: unknown; error?: Error } {
  const validate = (httpPart === 'body' ? bodyAjv : textAjv).compile(schema);
  const part = (httpPart ?? 'body') as HttpPart;
  return (data: unknown) => {
    if (validate(data)) return { value: data };
    return { error: new RequestViolations(violationsOf(part, validate.errors ?? [], data)) };
  };
}

/** The header parameters of an operation, each read from the raw headers (Node joins a repeated header into one). */
export function compileHeaderChecks(
  op: OperationContract,
): (values: (name: string) => string[]) => Violation[] {
  const checks = op.headers.map((h) => ({ name: h.name, validate: textAjv.compile(h.schema) }));
  return (values) =>
    checks.flatMap(({ name, validate }): Violation[] => {
      const given = values(name.toLowerCase());
      if (given.length === 0) return [];
      if (given.length > 1)
        return [{ field: name, message: `must be given once, got ${given.length} headers` }];
      if (validate(given[0])) return [];
      return violationsOf('headers', validate.errors ?? [], given[0]).map((v) => ({ ...v, field: name }));
    });
}

/** fastify attaches this as the request's validationError (the route runs with `attachValidation`). */
export class RequestViolations extends Error {
  constructor(readonly violations: Violation[]) {
    super(violations.map((v) => `${v.field}: ${v.message}`).join('; '));
    this.name = 'RequestViolations';
  }
}

const typeName = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : v === undefined ? 'missing' : typeof v;

/** `items[0].quantity`, or `items[0]["odd key"]` when a key is not a plain identifier. */
export const jsonPath = (parent: string, key: string): string => {
  if (/^\d+$/.test(key)) return `${parent}[${key}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
};

const fieldOf = (instancePath: string): string =>
  instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce(jsonPath, '');

function typeMessage(expected: unknown, data: unknown, part: HttpPart): string {
  if (part !== 'body' && Array.isArray(data)) return 'must be given once';
  if (expected === 'integer' && typeof data === 'number') return 'must be a whole number';
  const noun: Record<string, string> = {
    integer: 'a number',
    number: 'a number',
    string: 'a string',
    object: 'an object',
    array: 'an array',
  };
  return `must be ${noun[String(expected)] ?? String(expected)}, not ${typeName(data)}`;
}

function messageOf(e: ErrorObject, part: HttpPart): string {
  const rule = (e.parentSchema as { 'x-rule'?: string } | undefined)?.['x-rule'];
  const named = rule === undefined ? undefined : NAMED_RULES[rule];
  // A JSON type mistake in a body is worth its own words ("not string"); every other breach of a named rule reads
  // as the rule.
  if (named && !(e.keyword === 'type' && part === 'body')) return named.message;
  switch (e.keyword) {
    case 'type':
      return typeMessage(e.params.type, e.data, part);
    case 'enum':
      return `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
    case 'format':
      return e.params.format === 'uuid' ? rules.UUID.message : `must be a ${String(e.params.format)}`;
    case 'minimum':
    case 'maximum': {
      const s = e.parentSchema as { minimum?: number; maximum?: number };
      return `must be between ${s.minimum} and ${s.maximum}`;
    }
    default:
      return 'is not allowed here';
  }
}

/** ajv's errors of one part of a request as violations; `data` is that part (body, query, ...). */
export function violationsOf(part: HttpPart, errors: ErrorObject[], data: unknown): Violation[] {
  const root = part === 'body' ? 'body' : '';
  const out: Violation[] = [];
  for (const e of errors) {
    const at = fieldOf(e.instancePath);
    if (e.keyword === 'required') {
      out.push({ field: jsonPath(at, String(e.params.missingProperty)), message: 'is required' });
    } else if (e.keyword === 'additionalProperties') {
      const what = part === 'querystring' ? 'is not a known query parameter' : 'is not a known field';
      out.push({ field: jsonPath(at, String(e.params.additionalProperty)), message: what });
    } else if (e.keyword === 'x-unique-by') {
      const p = e.params as { index: number; key: string; first: number };
      out.push({
        field: jsonPath(jsonPath(at, String(p.index)), p.key),
        message: rules.duplicateSkuMessage(p.first),
      });
    } else if (at === '' && part === 'body') {
      out.push({
        field: root,
        message:
          data === undefined ? 'is required: a JSON object' : `must be a JSON object, not ${typeName(data)}`,
      });
    } else {
      out.push({ field: at || root, message: messageOf(e, part) });
    }
  }
  // ajv may report one value twice (type and pattern of the same string); a client needs each field once.
  const seen = new Set<string>();
  return out.filter((v) => (seen.has(v.field) ? false : (seen.add(v.field), true)));
}
