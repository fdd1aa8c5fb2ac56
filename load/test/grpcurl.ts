import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// grpcurl, the client people actually use against these services, built once from its Go module and cached outside
// the repository (the same cache as the Kafka jars). The version is stamped into the binary, so a changed pin
// rebuilds it. SHOP_GRPCURL names an existing binary instead.
export const GRPCURL_VERSION = 'v1.9.3';
const grpcurlModule = 'github.com/fullstorydev/grpcurl/cmd/grpcurl';
const binDir = join(homedir(), '.cache', 'cloud-native-shop', 'bin');

function versionOf(binary: string): string | undefined {
  const r = spawnSync(binary, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? `${r.stdout}${r.stderr}`.trim() : undefined;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeout: number) {
  return new Promise<{ status: number | null; stderr: string; error?: string }>((resolve) => {
    execFile(command, args, { encoding: 'utf8', timeout, env }, (error, _stdout, stderr) =>
      resolve({
        status: error ? (typeof error.code === 'number' ? error.code : null) : 0,
        stderr,
        ...(error ? { error: error.message } : {}),
      }),
    );
  });
}

/**
 * Path of a grpcurl binary of the pinned version: built with `go install` on first use (a few minutes on a cold Go
 * cache), then reused. Asynchronous, so that a test can build it while it starts the services.
 */
export async function ensureGrpcurl(): Promise<string> {
  const given = process.env.SHOP_GRPCURL;
  if (given) {
    if (!existsSync(given)) throw new Error(`SHOP_GRPCURL=${given} does not exist`);
    return given;
  }
  const binary = join(binDir, 'grpcurl');
  if (existsSync(binary) && versionOf(binary) === `grpcurl ${GRPCURL_VERSION}`) return binary;
  const go = await run('go', ['version'], process.env, 10_000);
  if (go.status !== 0) {
    throw new Error(
      `the grpcurl test builds grpcurl ${GRPCURL_VERSION} with Go, and no working \`go\` is on the PATH ` +
        `(${go.error ?? go.stderr}). Install Go 1.21+, or set SHOP_GRPCURL to a grpcurl binary.`,
    );
  }
  const install = await run(
    'go',
    ['install', `-ldflags=-X main.version=${GRPCURL_VERSION}`, `${grpcurlModule}@${GRPCURL_VERSION}`],
    { ...process.env, GOBIN: binDir, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    10 * 60_000,
  );
  const built = existsSync(binary) ? versionOf(binary) : undefined;
  if (install.status !== 0 || built !== `grpcurl ${GRPCURL_VERSION}`) {
    throw new Error(
      `go install ${grpcurlModule}@${GRPCURL_VERSION} failed (exit ${String(install.status)}, binary reports ` +
        `${built ?? 'nothing'}): ${install.error ?? ''}${install.stderr}`,
    );
  }
  return binary;
}

export interface GrpcurlResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `grpcurl -plaintext [-H header]... [-d data] <address> <args...>` and returns what it printed. */
export function grpcurl(
  binary: string,
  address: string,
  args: readonly string[],
  data?: unknown,
  headers: readonly string[] = [],
): GrpcurlResult {
  const flags = [
    '-plaintext',
    '-max-time',
    '10',
    ...headers.flatMap((h) => ['-H', h]),
    ...(data === undefined ? [] : ['-d', JSON.stringify(data)]),
  ];
  const r = spawnSync(binary, [...flags, address, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.error?.message ?? ''}${r.stderr ?? ''}` };
}
