import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RoleCredential {
  role: string;
  password: string;
}

export interface Credentials {
  version: 1;
  /** Superuser of the embedded cluster (absent when the server is external). */
  admin?: RoleCredential;
  /** Keyed by service name. */
  services: Record<string, RoleCredential>;
}

export function credentialsPath(stateDir: string): string {
  return join(stateDir, 'credentials.json');
}

/** URL-safe random password (hex: no quoting issues in URLs or SQL). */
export function newPassword(): string {
  return randomBytes(24).toString('hex');
}

export function loadCredentials(stateDir: string): Credentials {
  const file = credentialsPath(stateDir);
  if (!existsSync(file)) return { version: 1, services: {} };
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Credentials>;
  return { version: 1, services: parsed.services ?? {}, ...(parsed.admin ? { admin: parsed.admin } : {}) };
}

/** Written with mode 0600 (owner only) through a temp file and rename, so a crash never leaves half a file. */
export function saveCredentials(stateDir: string, creds: Credentials): void {
  const file = credentialsPath(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** Returns the stored credential of every role, generating (and persisting) the missing ones. */
export function ensureServiceCredentials(stateDir: string, roles: Record<string, string>): Credentials {
  const creds = loadCredentials(stateDir);
  let changed = !existsSync(credentialsPath(stateDir));
  for (const [service, role] of Object.entries(roles)) {
    const current = creds.services[service];
    if (!current || current.role !== role) {
      creds.services[service] = { role, password: newPassword() };
      changed = true;
    }
  }
  if (changed) saveCredentials(stateDir, creds);
  else chmodSync(credentialsPath(stateDir), 0o600);
  return creds;
}
