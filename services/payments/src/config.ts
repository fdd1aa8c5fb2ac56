import { authConfig, backendConfig, env, z } from '@shop/platform';

export const schema = z.object({
  ...backendConfig(50053, 9103),
  CREDIT_LIMIT_CENTS: env.positiveInt(
    100_000,
    'credit limit, in cents, of a customer seen for the first time',
  ),
  ...authConfig(),
});

export type Config = z.infer<typeof schema>;
