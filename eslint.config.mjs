// One lint configuration for the whole workspace; each package runs `eslint .` and ESLint finds this file
// by walking up from the package directory.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The adapter folders of a service (src/adapters/<name>): one per transport, plus db for persistence. */
const ADAPTERS = ['db', 'grpc', 'kafka', 'http'];

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/src/gen/**',
      '**/.turbo/**',
      '.local/**',
      '**/*.mjs',
      '**/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's describe/it return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // The domain is pure: no transport, database or telemetry SDK may be imported from it.
    files: ['services/*/src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'pg',
                'kafkajs',
                '@grpc/*',
                'fastify',
                '@opentelemetry/*',
                'prom-client',
                'pino',
                '../adapters/*',
                '../app/*',
              ],
              message:
                'src/domain is pure TypeScript: keep transports, persistence and telemetry in adapters.',
            },
            {
              // The shared identifier and limit rules are pure (no dependencies), so the domain states them too.
              regex: '^@shop/(?!contracts/rules$)',
              message:
                'src/domain is pure TypeScript: of the workspace packages it may import only @shop/contracts/rules.',
            },
          ],
        },
      ],
    },
  },
  {
    // The app layer (use cases, units of work) may use the persistence adapter, never a transport: a use case is
    // called by the gRPC and Kafka adapters, not the other way round (docs/architecture.md, "How a service is laid out").
    files: ['services/*/src/app/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'kafkajs',
                '@grpc/*',
                'fastify',
                '../adapters/grpc',
                '../adapters/grpc/*',
                '../adapters/kafka',
                '../adapters/kafka/*',
                '../adapters/http',
                '../adapters/http/*',
              ],
              message:
                'src/app may import the domain and the persistence adapter (adapters/db), never a transport adapter.',
            },
          ],
        },
      ],
    },
  },
  // Adapters never import each other: what two of them share lives in the app layer, the domain or @shop/contracts.
  ...ADAPTERS.map((adapter) => ({
    files: [`services/*/src/adapters/${adapter}/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ADAPTERS.filter((other) => other !== adapter).flatMap((other) => [
                `../${other}`,
                `../${other}/*`,
              ]),
              message: `src/adapters/${adapter} must not import another adapter; share through src/app, src/domain or @shop/contracts.`,
            },
          ],
        },
      ],
    },
  })),
  {
    files: ['**/test/**/*.ts', 'tools/*/src/**/*.ts', 'load/src/**/*.ts', 'labs/src/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
