import { join } from 'node:path';
import { root } from './paths';

/** Where a run keeps its state and which PostgreSQL and Kafka ports it uses. */
export interface Profile {
  stateDir: string;
  postgresPort: number;
  kafkaPort: number;
}

export const PROFILES = {
  dev: { stateDir: join(root, '.local', 'dev'), postgresPort: 55432, kafkaPort: 59092 },
  // SHOP_TEST_PG_PORT / SHOP_TEST_KAFKA_PORT let two clones run `npm test` side by side.
  test: {
    stateDir: join(root, '.local', 'test'),
    postgresPort: Number(process.env.SHOP_TEST_PG_PORT || 55433),
    kafkaPort: Number(process.env.SHOP_TEST_KAFKA_PORT || 59094),
  },
} satisfies Record<string, Profile>;

/** A command's arguments (after `npm start --`, `npm run infra --` ...): `--name value` options and flags. */
export class Args {
  constructor(readonly list: string[]) {}

  has(flag: string): boolean {
    return this.list.includes(flag);
  }

  /** `--name value`, or `def` when absent. */
  opt(name: string, def: string): string {
    const i = this.list.indexOf(`--${name}`);
    const value = i >= 0 ? this.list[i + 1] : undefined;
    return value ?? def;
  }

  /** A port number (or offset) `--name N`; exits with 2 on anything else. */
  intOpt(name: string, def: number): number {
    const raw = this.opt(name, String(def));
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65534) {
      console.error(`--${name}: expected a port number (or offset), got ${raw}`);
      process.exit(2);
    }
    return n;
  }

  /** The profile of `--name N` (state dir .local/N) with --pg-port / --kafka-port, `base` giving the defaults. */
  namedProfile(base: Omit<Profile, 'stateDir'> & { name: string }): Profile & { name: string } {
    const name = this.opt('name', base.name);
    if (!/^[\w-]+$/.test(name)) {
      console.error('--name: letters, digits, _ and - only');
      process.exit(2);
    }
    return {
      name,
      stateDir: join(root, '.local', name),
      postgresPort: this.intOpt('pg-port', base.postgresPort),
      kafkaPort: this.intOpt('kafka-port', base.kafkaPort),
    };
  }
}
