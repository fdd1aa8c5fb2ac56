import { z } from 'zod';
import { authViolations } from './auth';
import { tlsViolations } from './tls';

/** Thrown when the environment does not satisfy a service's schema; lists every violation at once. */
export class ConfigError extends Error {
  constructor(readonly violations: string[]) {
    super(`invalid configuration:\n${violations.map((v) => `  - ${v}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Environment variables are strings; an empty string means "not set" so that defaults apply.
const unsetIfEmpty = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

// The default sits inside the preprocess step so that an empty string falls back to it too.
function optional<T extends z.ZodType>(inner: T, def: z.output<T>, description: string) {
  return z.preprocess(unsetIfEmpty, inner.default(def as never)).describe(description);
}

/** Building blocks for service schemas. Every variable carries a description used in errors and `--help`. */
export const env = {
  port: (def: number, description: string) =>
    optional(
      z.coerce
        .number({ error: 'expected a port number' })
        .int('expected an integer port')
        .min(0, 'expected a port between 0 and 65535')
        .max(65535, 'expected a port between 0 and 65535'),
      def,
      description,
    ),
  positiveInt: (def: number, description: string) =>
    optional(
      z.coerce
        .number({ error: 'expected a positive integer' })
        .int('expected a positive integer')
        .positive('expected a positive integer'),
      def,
      description,
    ),
  nonNegativeInt: (def: number, description: string) =>
    optional(
      z.coerce
        .number({ error: 'expected a whole number, 0 or more' })
        .int('expected a whole number, 0 or more')
        .min(0, 'expected a whole number, 0 or more'),
      def,
      description,
    ),
  boundedInt: (def: number, min: number, max: number, description: string) =>
    optional(
      z.coerce
        .number({ error: `expected a whole number from ${min} to ${max}` })
        .int(`expected a whole number from ${min} to ${max}`)
        .min(min, `expected a whole number from ${min} to ${max}`)
        .max(max, `expected a whole number from ${min} to ${max}`),
      def,
      description,
    ),
  string: (def: string, description: string) => optional(z.string(), def, description),
  /** One of a few words, with a default (an empty string is the default too). */
  choice: <const T extends readonly [string, ...string[]]>(values: T, def: T[number], description: string) =>
    optional(z.enum(values, { error: `expected one of ${values.join(', ')}` }), def as never, description),
  /** Lowercase HTTP header names, comma-separated (an empty string is the default). */
  headerNames: (def: string[], description: string) =>
    optional(
      z
        .string()
        .regex(
          /^[a-z0-9][a-z0-9-]{0,62}(,[a-z0-9][a-z0-9-]{0,62})*$/,
          'expected lowercase header names separated by commas, e.g. x-canary,x-lab-fault',
        )
        .refine(
          (s) => !s.split(',').some((h) => ['authorization', 'cookie', 'host'].includes(h)),
          'authorization, cookie and host are never passed on as routing headers',
        )
        .transform((s) => s.split(',')),
      def as never,
      description,
    ),
  optionalPort: (description: string) =>
    z
      .preprocess(
        unsetIfEmpty,
        z.coerce
          .number({ error: 'expected a port number' })
          .int('expected an integer port')
          .min(0, 'expected a port between 0 and 65535')
          .max(65535, 'expected a port between 0 and 65535')
          .optional(),
      )
      .describe(description),
  optionalString: (description: string) =>
    z.preprocess(unsetIfEmpty, z.string().optional()).describe(description),
  host: (def: string, description: string) =>
    optional(z.string().regex(/^[A-Za-z0-9.:-]+$/, 'expected a host name or IP address'), def, description),
  logLevel: () =>
    optional(z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }), 'info', 'log level'),
  postgresUrl: (description: string) =>
    z
      .preprocess(
        unsetIfEmpty,
        z
          .string({ error: 'required: a postgres:// connection URL' })
          .refine(isPostgresUrl, 'expected a postgres://user:password@host:port/database URL'),
      )
      .describe(description),
  brokers: (description: string) =>
    z
      .preprocess(
        unsetIfEmpty,
        z
          .string({ error: 'required: a comma-separated list of host:port' })
          .refine(
            (s) => s.split(',').every((b) => /^[A-Za-z0-9.-]+:\d{1,5}$/.test(b.trim())),
            'expected a comma-separated list of host:port',
          ),
      )
      .describe(description),
  /** An optional http(s) URL (for example an OTLP endpoint). */
  optionalHttpUrl: (description: string) =>
    z
      .preprocess(
        unsetIfEmpty,
        z
          .string()
          .refine(isHttpUrl, 'expected an http:// or https:// URL such as http://127.0.0.1:4318')
          .optional(),
      )
      .describe(description),
  /** An optional value out of a fixed list. */
  optionalEnum: <const T extends readonly [string, ...string[]]>(values: T, description: string) =>
    z
      .preprocess(unsetIfEmpty, z.enum(values, { error: `expected one of ${values.join(', ')}` }).optional())
      .describe(description),
  /** An optional comma-separated list of values out of a fixed list (at least one), as the string given. */
  optionalList: <const T extends readonly [string, ...string[]]>(values: T, description: string) =>
    z
      .preprocess(
        unsetIfEmpty,
        z
          .string()
          .refine(
            (s) => s.split(',').every((v) => (values as readonly string[]).includes(v.trim())),
            `expected a comma-separated list of ${values.join(', ')}`,
          )
          .optional(),
      )
      .describe(description),
  /** An optional number between 0 and 1 (a ratio). */
  optionalRatio: (description: string) =>
    z
      .preprocess(
        unsetIfEmpty,
        z.coerce
          .number({ error: 'expected a number between 0 and 1' })
          .min(0, 'expected a number between 0 and 1')
          .max(1, 'expected a number between 0 and 1')
          .optional(),
      )
      .describe(description),
  /** host:port, or file:/absolute/path of a discovery file listing host:port lines (discovery.ts). */
  grpcTarget: (def: string, description: string) =>
    optional(
      z
        .string()
        .regex(
          /^([A-Za-z0-9.-]+:\d{1,5}|file:(\/\/)?\/\S+)$/,
          'expected host:port or file:/absolute/path of a discovery file',
        ),
      def,
      description,
    ),
  address: (def: string, description: string) =>
    optional(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'expected host:port'), def, description),
};

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === 'postgres:' || url.protocol === 'postgresql:') &&
      url.hostname !== '' &&
      url.pathname.length > 1
    );
  } catch {
    return false;
  }
}

const SECRET = /URL|PASSWORD|SECRET|TOKEN/;

/** Validates the environment against a schema; returns the typed config or throws ConfigError with all violations. */
export function loadConfig<S extends z.ZodObject>(schema: S, source: NodeJS.ProcessEnv): z.infer<S> {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) input[key] = source[key];
  const result = schema.safeParse(input);
  if (result.success) {
    // Checks across variables and on the files they name, once each variable is valid on its own.
    const tls = 'GRPC_TLS_CERT_FILE' in schema.shape ? tlsViolations(result.data) : [];
    const auth = 'AUTH_MODE' in schema.shape ? authViolations(result.data) : [];
    if (tls.length + auth.length > 0) throw new ConfigError([...tls, ...auth]);
    return result.data;
  }
  const violations = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '(root)');
    const raw = source[key];
    const shown = raw === undefined ? 'not set' : SECRET.test(key) ? 'value hidden' : JSON.stringify(raw);
    const field = schema.shape[key] as z.ZodType | undefined;
    const about = field?.description ? ` (${field.description})` : '';
    return `${key}=${shown}: ${issue.message}${about}`;
  });
  // The check across the auth variables too, from the raw values, so that one run names every missing variable.
  if ('AUTH_MODE' in schema.shape) {
    const raw = (key: string) => (source[key]?.trim() ? source[key]?.trim() : undefined);
    violations.push(
      ...authViolations({
        AUTH_MODE: (raw('AUTH_MODE') ?? 'oidc') as 'oidc',
        OIDC_ISSUER: raw('OIDC_ISSUER'),
      }),
    );
  }
  throw new ConfigError(violations);
}

/** One line per variable: name, default and description, for `--help`. */
export function describeConfig(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape).map(([key, field]) => {
    const f = field as z.ZodType;
    const unset = f.safeParse(undefined);
    let def = ' (required)';
    if (unset.success)
      def = unset.data === undefined ? ' (optional)' : ` (default: ${JSON.stringify(unset.data)})`;
    return `  ${key.padEnd(28)} ${f.description ?? ''}${def}`;
  });
}

export { z };
