import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CUSTOMER_ID } from '@shop/contracts/rules';

/** The two roles of the platform: a customer owns its orders, an operator sees everything. */
export type Role = 'customer' | 'operator';

export interface Account {
  /** The account id: the `sub` of its tokens and the customer id of its orders. */
  username: string;
  roles: Role[];
}

interface StoredAccount extends Account {
  /** `scrypt$N$r$p$<salt base64url>$<hash base64url>` */
  password: string;
  createdAt: string;
}

/** The demo accounts every issuer starts with (README: "Sign in"). */
export const DEMO_ACCOUNTS: ReadonlyArray<{ username: string; password: string; roles: Role[] }> = [
  { username: 'alice', password: 'alice-demo', roles: ['customer'] },
  { username: 'bob', password: 'bob-demo', roles: ['customer'] },
  { username: 'ops', password: 'ops-demo', roles: ['operator'] },
];

export const MIN_PASSWORD_LENGTH = 8;
const MAX_PASSWORD_LENGTH = 1024;

// scrypt parameters (RFC 7914): N = 2^14, r = 8, p = 1 costs ~16 MiB and a few tens of ms per check.
const SCRYPT = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) =>
    scryptCb(password, salt, keylen, { ...opts, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return timingSafeEqual(key, expected);
}

/** A refusal of sign-up input: names the field, as problem+json `invalid-params` does. */
export class AccountError extends Error {
  constructor(
    readonly status: 400 | 409,
    readonly field: 'username' | 'password',
    readonly reason: string,
  ) {
    super(`${field} ${reason}`);
  }
}

/** Checks sign-up input; returns every violation (empty when valid). */
export function validateSignUp(username: unknown, password: unknown): AccountError[] {
  const errors: AccountError[] = [];
  if (typeof username !== 'string' || !CUSTOMER_ID.pattern.test(username))
    errors.push(new AccountError(400, 'username', CUSTOMER_ID.message));
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH)
    errors.push(new AccountError(400, 'password', `must be at least ${MIN_PASSWORD_LENGTH} characters`));
  else if (password.length > MAX_PASSWORD_LENGTH)
    errors.push(new AccountError(400, 'password', `must be at most ${MAX_PASSWORD_LENGTH} characters`));
  return errors;
}

/**
 * The accounts, in `<stateDir>/accounts.json` (written whole to a temporary file and renamed, so that a crash
 * never leaves half a file). One process owns a state directory.
 */
export class AccountStore {
  private readonly file: string;
  private accounts = new Map<string, StoredAccount>();
  // Registrations are serialised, so that two sign-ups of one name cannot both succeed.
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(stateDir: string) {
    this.file = join(stateDir, 'accounts.json');
  }

  static async open(stateDir: string): Promise<AccountStore> {
    const store = new AccountStore(stateDir);
    if (existsSync(store.file)) {
      const list = JSON.parse(readFileSync(store.file, 'utf8')) as StoredAccount[];
      for (const a of list) store.accounts.set(a.username, a);
    }
    let seeded = false;
    for (const demo of DEMO_ACCOUNTS) {
      if (store.accounts.has(demo.username)) continue;
      store.accounts.set(demo.username, {
        username: demo.username,
        roles: demo.roles,
        password: await hashPassword(demo.password),
        createdAt: new Date().toISOString(),
      });
      seeded = true;
    }
    if (seeded) store.save();
    return store;
  }

  find(username: string): Account | undefined {
    const a = this.accounts.get(username);
    return a ? { username: a.username, roles: [...a.roles] } : undefined;
  }

  /** The account when the password is right; undefined otherwise (unknown name or wrong password alike). */
  async authenticate(username: string, password: string): Promise<Account | undefined> {
    const a = this.accounts.get(username);
    if (!a) {
      // Spend the same time as a real check, so that timing does not tell which names exist.
      await hashPassword(password);
      return undefined;
    }
    return (await verifyPassword(password, a.password)) ? this.find(username) : undefined;
  }

  /** Registers a customer (never an operator). Throws AccountError (400 invalid, 409 taken). */
  register(username: unknown, password: unknown): Promise<Account> {
    const run = this.queue.then(async () => {
      const errors = validateSignUp(username, password);
      if (errors[0]) throw errors[0];
      const name = username as string;
      if (this.accounts.has(name)) throw new AccountError(409, 'username', 'is already taken');
      const stored: StoredAccount = {
        username: name,
        roles: ['customer'],
        password: await hashPassword(password as string),
        createdAt: new Date().toISOString(),
      };
      this.accounts.set(name, stored);
      try {
        this.save();
      } catch (err) {
        this.accounts.delete(name);
        throw err;
      }
      return { username: name, roles: ['customer'] as Role[] };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify([...this.accounts.values()], null, 2), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
