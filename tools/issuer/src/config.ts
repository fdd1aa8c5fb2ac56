// The issuer process's configuration: the only place that reads the environment.
import { isAbsolute, resolve } from 'node:path';

export interface IssuerConfig {
  port: number;
  host: string;
  url: string | undefined;
  stateDir: string;
  consoleOrigins: string[];
}

export const ENV_HELP = `Environment:
  ISSUER_PORT             port to listen on (8090)
  ISSUER_HOST             address to bind (127.0.0.1)
  ISSUER_URL              the issuer identifier, when clients reach it under another URL (default http://<host>:<port>)
  ISSUER_STATE_DIR        where signing keys and accounts persist (required)
  ISSUER_CONSOLE_ORIGINS  comma-separated origins of the web console (http://127.0.0.1:8080)`;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): IssuerConfig {
  const problems: string[] = [];
  const port = Number(env.ISSUER_PORT ?? '8090');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    problems.push('ISSUER_PORT must be a port number 0-65535');
  const url = env.ISSUER_URL || undefined;
  if (url && !/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(url))
    problems.push('ISSUER_URL must be an http(s) URL without query or fragment');
  const stateDir = env.ISSUER_STATE_DIR;
  if (!stateDir) problems.push('ISSUER_STATE_DIR is required (where keys and accounts persist)');
  const consoleOrigins = (env.ISSUER_CONSOLE_ORIGINS ?? 'http://127.0.0.1:8080')
    .split(',')
    .map((o) => o.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  for (const o of consoleOrigins)
    if (!/^https?:\/\/[^/?#]+$/.test(o))
      problems.push(`ISSUER_CONSOLE_ORIGINS: ${o} is not an origin (scheme://host[:port])`);
  if (problems.length) {
    const err = new Error(`invalid issuer configuration:\n  ${problems.join('\n  ')}\n${ENV_HELP}`);
    throw err;
  }
  return {
    port,
    host: env.ISSUER_HOST || '127.0.0.1',
    url,
    stateDir: isAbsolute(stateDir as string) ? (stateDir as string) : resolve(stateDir as string),
    consoleOrigins,
  };
}
