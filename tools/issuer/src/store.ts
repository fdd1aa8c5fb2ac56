// Where the provider keeps sessions, interactions, authorization codes and grants: this issuer's own memory, with
// each entry's expiry (oidc-provider's adapter interface). Deliberately not persisted: a restarted issuer forgets
// sign-in sessions and unused codes, never accounts or keys (those are files, see accounts.ts and keys.ts). Unlike
// the provider's quick-start adapter (a process-wide LRU of 1000 entries, which a burst of sign-ins can evict), it
// holds every live entry, belongs to one issuer, and survives the provider being rebuilt by a key rotation.
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

interface Entry {
  value: unknown;
  /** Epoch ms; Infinity when the provider gave no lifetime. */
  expiresAt: number;
}

const SWEEP_EVERY = 500;

export class MemoryStore {
  private readonly entries = new Map<string, Entry>();
  private writes = 0;

  get<T>(key: string): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value as T;
  }

  set(key: string, value: unknown, expiresInSeconds?: number): void {
    const expiresAt = typeof expiresInSeconds === 'number' ? Date.now() + expiresInSeconds * 1000 : Infinity;
    this.entries.set(key, { value, expiresAt });
    if (++this.writes % SWEEP_EVERY === 0) this.sweep();
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }
}

/** The provider's `adapter`: one instance per model name (Session, Interaction, AuthorizationCode, Grant ...). */
export function memoryAdapter(store: MemoryStore): AdapterFactory {
  return (model: string): Adapter => {
    const key = (id: string) => `${model}:${id}`;
    return {
      upsert(id: string, payload: AdapterPayload, expiresIn?: number) {
        store.set(key(id), payload, expiresIn);
        if (payload.grantId) {
          const members = store.get<string[]>(`grant:${payload.grantId}`) ?? [];
          members.push(key(id));
          store.set(`grant:${payload.grantId}`, members, expiresIn);
        }
        if (payload.uid) store.set(`sessionUid:${payload.uid}`, id, expiresIn);
        if (payload.userCode) store.set(`userCode:${payload.userCode}`, id, expiresIn);
        return Promise.resolve();
      },
      find: (id: string) => Promise.resolve(store.get<AdapterPayload>(key(id))),
      findByUid(uid: string) {
        const id = store.get<string>(`sessionUid:${uid}`);
        return Promise.resolve(id === undefined ? undefined : store.get<AdapterPayload>(key(id)));
      },
      findByUserCode(userCode: string) {
        const id = store.get<string>(`userCode:${userCode}`);
        return Promise.resolve(id === undefined ? undefined : store.get<AdapterPayload>(key(id)));
      },
      consume(id: string) {
        const payload = store.get<AdapterPayload>(key(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
        return Promise.resolve();
      },
      destroy(id: string) {
        store.delete(key(id));
        return Promise.resolve();
      },
      revokeByGrantId(grantId: string) {
        for (const k of store.get<string[]>(`grant:${grantId}`) ?? []) store.delete(k);
        store.delete(`grant:${grantId}`);
        return Promise.resolve();
      },
    };
  };
}
