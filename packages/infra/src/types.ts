export type LogSource = 'postgres' | 'kafka' | 'infra';

export interface TopicSpec {
  name: string;
  partitions: number;
}

export interface InfraOptions {
  /** Holds PostgreSQL data, Kafka data, logs, credentials and the lock file (git-ignored, e.g. <repo>/.local/dev). */
  stateDir: string;
  /** One database and one role per service, e.g. ['orders', 'inventory', 'payments']. */
  services: string[];
  postgresPort: number;
  /** Kafka client port; the KRaft controller listens on kafkaPort + 1. */
  kafkaPort: number;
  /** Created explicitly (idempotent); broker auto-creation is off. */
  topics: TopicSpec[];
  /** Wipe the state dir first (refused while another run owns it). */
  reset?: boolean;
  /** Defaults to process.env; read for SHOP_POSTGRES_URL, KAFKA_BROKERS, JAVA_HOME, XDG_CACHE_HOME, HOME, DOCKER_HOST. */
  env?: NodeJS.ProcessEnv;
  /**
   * Prefix of every database and role name (default ''). Useful when several state dirs provision the same external
   * server through SHOP_POSTGRES_URL, so that dev and test do not overwrite each other's passwords.
   */
  databasePrefix?: string;
  log?: (source: LogSource, line: string) => void;
  /**
   * Start a small detached watchdog that stops every recorded process (PostgreSQL, Kafka and whatever `track`
   * recorded) if the owner dies without stopping them (SIGKILL). Default false.
   */
  watchdog?: boolean;
}

export interface Infra {
  /** Per service, with that service's own role and password. */
  databaseUrls: Record<string, string>;
  /** Superuser URL (for tests and consistency checks only). */
  adminDatabaseUrl: string;
  /** "127.0.0.1:59092" */
  kafkaBrokers: string;
  /** Human-readable lines: what was used and where. */
  describe(): string[];
  /** Stops what this call started (by PID) and waits until its ports are free; idempotent. */
  stop(): Promise<void>;
  /**
   * Stops the embedded PostgreSQL and starts it again on the same port with the same data dir (databases, roles and
   * data kept); resolves once it accepts connections. Default: a clean fast shutdown. `kill`: SIGKILL of the
   * postmaster alone, a crash (the new server runs crash recovery). Rejects for SHOP_POSTGRES_URL and Docker.
   */
  restartPostgres(opts?: { kill?: boolean }): Promise<void>;
  /**
   * Records another process of this run in the lock (e.g. a service), so that a later start, `cli.js down` or the
   * watchdog stop it if this owner dies first. `marker` is a string its command line contains (proof it is ours).
   */
  track(name: string, pid: number, marker: string): void;
  /** Removes a tracked process from the lock (it exited). */
  untrack(pid: number): void;
}

export type Logger = (source: LogSource, line: string) => void;
