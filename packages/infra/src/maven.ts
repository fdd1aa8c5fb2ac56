import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import type { Logger } from './types.js';

export const MAVEN_CENTRAL = 'https://repo1.maven.org/maven2';

export interface MavenFile {
  /** What it is, for the log and the errors ("Zipkin server 3.6.1"). */
  label: string;
  /** Path in the repository, e.g. io/zipkin/zipkin-server/3.6.1/zipkin-server-3.6.1-exec.jar. */
  path: string;
  /** The SHA-256 this project pinned (lower-case hex); the repository's own .sha256 and .sha1 must agree too. */
  sha256: string;
  /** Where the verified file is kept (outside the repository). */
  target: string;
  /** Repository base URL; default Maven Central. */
  repository?: string;
  /** Bound of the whole download (default 10 min). */
  timeoutMs?: number;
}

const MARKER_SUFFIX = '.sha256-verified';

/**
 * One file from a Maven repository into a cache outside the repository, once: streamed to a temporary sibling,
 * checked against the pinned SHA-256 and against the repository's published .sha256 and .sha1, and renamed into
 * place only when all agree, so an interrupted or corrupted download is never taken for the file. A marker next to
 * it records the verified digest; a file without a matching marker is verified (or fetched) again.
 */
export async function mavenFile(file: MavenFile, log: Logger): Promise<string> {
  const marker = `${file.target}${MARKER_SUFFIX}`;
  if (existsSync(file.target) && readText(marker) === file.sha256) return file.target;
  mkdirSync(dirname(file.target), { recursive: true });
  if (existsSync(file.target)) {
    // Placed by hand (an offline machine) or left without its marker: accept it when its digest is the pinned one.
    if ((await sha256Of(file.target)) === file.sha256) {
      writeFileSync(marker, file.sha256);
      return file.target;
    }
    rmSync(file.target, { force: true });
  }
  const url = `${file.repository ?? MAVEN_CENTRAL}/${file.path}`;
  const offline = (err: unknown): Error =>
    new Error(
      `cannot download ${file.label} from ${url} (${describeFetchError(err)}). It is fetched once and kept in ` +
        `${file.target}; connect this machine to the network and run again, or copy the file there yourself ` +
        `(its SHA-256 must be ${file.sha256}).`,
      { cause: err },
    );
  const signal = AbortSignal.timeout(file.timeoutMs ?? 10 * 60_000);
  const published = async (ext: 'sha256' | 'sha1'): Promise<string> => {
    let res: Response;
    try {
      res = await fetch(`${url}.${ext}`, { signal });
    } catch (err) {
      throw offline(err);
    }
    if (!res.ok) throw new Error(`${url}.${ext}: HTTP ${res.status}; cannot verify ${file.label}`);
    // Either the bare digest or "<digest>  <file name>".
    return (await res.text()).trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  };
  const [remoteSha256, remoteSha1] = await Promise.all([published('sha256'), published('sha1')]);
  if (remoteSha256 !== file.sha256) {
    throw new Error(
      `${url}.sha256 says ${remoteSha256}, this project pinned ${file.sha256} for ${file.label}: refusing it`,
    );
  }
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (err) {
    throw offline(err);
  }
  if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status}; cannot download ${file.label}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  const tmp = `${file.target}.tmp-${process.pid}`;
  const started = Date.now();
  let received = 0;
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  log(
    'infra',
    `downloading ${file.label} (${total ? `${mb(total)} MB` : 'size unknown'}) from ${url} into ${file.target} (once)`,
  );
  const ticker = setInterval(() => {
    log('infra', `  ${file.label}: ${mb(received)}${total ? ` of ${mb(total)}` : ''} MB so far`);
  }, 10_000);
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  try {
    const body = Readable.fromWeb(res.body as ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      received += chunk.length;
      sha256.update(chunk);
      sha1.update(chunk);
    });
    await pipeline(body, createWriteStream(tmp));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw offline(err);
  } finally {
    clearInterval(ticker);
  }
  const got256 = sha256.digest('hex');
  const got1 = sha1.digest('hex');
  if (got256 !== file.sha256 || got1 !== remoteSha1) {
    rmSync(tmp, { force: true });
    throw new Error(
      `${file.label} from ${url} is corrupt: SHA-256 ${got256} (expected ${file.sha256}), SHA-1 ${got1} (${url}.sha1 says ${remoteSha1}); nothing was kept`,
    );
  }
  renameSync(tmp, file.target);
  writeFileSync(marker, file.sha256);
  log(
    'infra',
    `${file.label} cached (${mb(received)} MB in ${Math.round((Date.now() - started) / 1000)} s, SHA-256 and SHA-1 verified)`,
  );
  return file.target;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** "getaddrinfo ENOTFOUND repo1.maven.org" rather than fetch's bare "fetch failed". */
function describeFetchError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string }; name?: string };
  if (e.name === 'TimeoutError') return 'timed out';
  const cause = e.cause?.message ?? e.cause?.code;
  return cause ? `${e.message ?? 'fetch failed'}: ${cause}` : (e.message ?? String(err));
}
