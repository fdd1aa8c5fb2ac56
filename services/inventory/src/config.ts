import { backendConfig, z } from '@shop/platform';

/** The inventory service's whole configuration (docs/architecture.md, "Environment variables"). */
export const schema = z.object({
  ...backendConfig(50052, 9102),
});

export type Config = z.infer<typeof schema>;
