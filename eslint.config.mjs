// One lint configuration for the whole workspace; each package runs `eslint .` and ESLint finds this file
// by walking up from the package directory.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
                '@shop/*',
                '../adapters/*',
                '../app/*',
              ],
              message:
                'src/domain is pure TypeScript: keep transports, persistence and telemetry in adapters.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/test/**/*.ts', 'tools/*/src/**/*.ts', 'load/src/**/*.ts', 'labs/src/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
