import { generateKeyPairSync, randomBytes, randomUUID, type JsonWebKey } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A private signing key (JWK, ES256) as the provider's `jwks` takes it. */
export interface SigningJwk extends JsonWebKey {
  kid: string;
  alg: 'ES256';
  use: 'sig';
  key_ops?: string[];
}

interface StoredKey {
  jwk: SigningJwk;
  createdAt: string;
  /** Set when a newer key took over signing; the key stays published until its last tokens have expired. */
  retiredAt?: string;
}

/** How long a retired key stays in the JWKS: longer than any token it signed lives (ID tokens: 1 h). */
export const RETIRED_KEY_KEPT_MS = 2 * 60 * 60 * 1000;

function newKey(): StoredKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    jwk: { ...jwk, kid: randomUUID(), alg: 'ES256', use: 'sig' },
    createdAt: new Date().toISOString(),
  };
}

/**
 * The issuer's signing keys and cookie secrets, in `<stateDir>/keys.json` (mode 0600). The newest key signs;
 * retired keys are still published (verify only) for RETIRED_KEY_KEPT_MS, so tokens they signed keep verifying
 * until they expire.
 */
export class KeyStore {
  private readonly file: string;
  private keys: StoredKey[] = [];
  private cookieKeys: string[] = [];

  private constructor(stateDir: string) {
    this.file = join(stateDir, 'keys.json');
  }

  static open(stateDir: string): KeyStore {
    const store = new KeyStore(stateDir);
    if (existsSync(store.file)) {
      const saved = JSON.parse(readFileSync(store.file, 'utf8')) as {
        keys: StoredKey[];
        cookieKeys: string[];
      };
      store.keys = saved.keys;
      store.cookieKeys = saved.cookieKeys;
    }
    if (!store.keys.some((k) => !k.retiredAt) || !store.cookieKeys.length) {
      if (!store.keys.some((k) => !k.retiredAt)) store.keys.unshift(newKey());
      if (!store.cookieKeys.length) store.cookieKeys = [randomBytes(32).toString('base64url')];
      store.save();
    }
    return store;
  }

  /** A new signing key takes over; the previous ones stay published. Returns the new key id. */
  rotate(now = Date.now()): string {
    for (const k of this.keys) k.retiredAt ??= new Date(now).toISOString();
    this.keys = this.keys.filter((k) => !k.retiredAt || now - Date.parse(k.retiredAt) < RETIRED_KEY_KEPT_MS);
    const key = newKey();
    this.keys.unshift(key);
    this.save();
    return key.jwk.kid;
  }

  /** The provider's `jwks`: the signing key first, retired keys marked verify-only. */
  jwks(): { keys: SigningJwk[] } {
    return {
      keys: this.keys.map((k) => (k.retiredAt ? { ...k.jwk, key_ops: ['verify'] } : { ...k.jwk })),
    };
  }

  /** The key id that signs new tokens. */
  get currentKid(): string {
    const current = this.keys.find((k) => !k.retiredAt);
    if (!current) throw new Error('no signing key');
    return current.jwk.kid;
  }

  get cookieSecrets(): string[] {
    return [...this.cookieKeys];
  }

  private save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ keys: this.keys, cookieKeys: this.cookieKeys }, null, 2), {
      mode: 0o600,
    });
    renameSync(tmp, this.file);
  }
}
