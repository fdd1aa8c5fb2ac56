// File-based service discovery for gRPC targets (`file:/path`): the endpoints of a dependency are read from a file
// that the discovery system keeps up to date (Consul template, a Kubernetes EndpointSlice rendered by a sidecar,
// Prometheus file_sd style), and read again after `refreshMs`. The resolved list is a cache with a TTL: a long TTL
// keeps a stale endpoint after the dependency moved (incident scenario 3), a short one follows it within that time.
// docs/architecture.md, "Calling another service".
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';

type Resolver = grpc.experimental.Resolver;
type ResolverListener = grpc.experimental.ResolverListener;
type GrpcUri = grpc.experimental.GrpcUri;
type Endpoint = grpc.experimental.Endpoint;

/** Channel option carrying how long a file-resolved endpoint list is trusted before the file is read again. */
export const DISCOVERY_REFRESH_OPTION = 'shop.discovery_refresh_ms';
export const DEFAULT_DISCOVERY_REFRESH_MS = 2000;
export const FILE_TARGET = /^file:(\/\/)?\/[^\s]+$/;

/** The path of a `file:/abs/path` or `file:///abs/path` target. */
export const pathOfTarget = (target: string) => target.replace(/^file:(\/\/)?/, '');

/** One `host:port` per line; blank lines and `#` comments are skipped. Throws on anything else. */
export function parseEndpoints(text: string): { host: string; port: number }[] {
  const out: { host: string; port: number }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(line);
    if (!m?.[1] || !m[2] || Number(m[2]) > 65535) throw new Error(`not host:port: ${JSON.stringify(line)}`);
    out.push({ host: m[1], port: Number(m[2]) });
  }
  return out;
}

class FileResolver implements Resolver {
  private readonly path: string;
  private readonly refreshMs: number;
  private readAt = 0;
  private last = '';
  private reading = false;
  private timer: NodeJS.Timeout | undefined;
  private destroyed = false;

  constructor(
    target: GrpcUri,
    private readonly listener: ResolverListener,
    options: grpc.ChannelOptions,
  ) {
    this.path = target.path.startsWith('/') ? target.path : `/${target.path}`;
    const r = Number(options[DISCOVERY_REFRESH_OPTION]);
    this.refreshMs = Number.isFinite(r) && r > 0 ? r : DEFAULT_DISCOVERY_REFRESH_MS;
  }

  static getDefaultAuthority(target: GrpcUri): string {
    return target.path.split('/').pop() ?? 'file';
  }

  updateResolution(): void {
    this.destroyed = false;
    // The cache is trusted for refreshMs, even when the channel asks again because the endpoint refused it: that
    // is what a TTL means, and what a stale discovery cache looks like.
    if (Date.now() - this.readAt < this.refreshMs) return;
    this.schedule();
    void this.read(false);
  }

  destroy(): void {
    this.destroyed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule() {
    if (this.timer || this.destroyed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.destroyed) return;
      this.schedule();
      void this.read(true);
    }, this.refreshMs);
    this.timer.unref();
  }

  private async read(onlyChanges: boolean) {
    if (this.reading) return;
    this.reading = true;
    try {
      let text: string;
      let endpoints: Endpoint[];
      try {
        text = await readFile(this.path, 'utf8');
        endpoints = parseEndpoints(text).map((a) => ({ addresses: [a] }));
        if (endpoints.length === 0) throw new Error('no endpoint listed');
      } catch (err) {
        this.readAt = Date.now();
        if (this.destroyed) return;
        this.last = '';
        this.listener(
          {
            ok: false,
            error: {
              code: grpc.status.UNAVAILABLE,
              details: `discovery file ${this.path}: ${(err as Error).message}`,
              metadata: new grpc.Metadata(),
            },
          },
          {},
          null,
          '',
        );
        return;
      }
      this.readAt = Date.now();
      if (this.destroyed || (onlyChanges && text === this.last)) return;
      this.last = text;
      this.listener({ ok: true, value: endpoints }, {}, null, `from ${this.path}`);
    } finally {
      this.reading = false;
    }
  }
}

let registered = false;

/** Registers the `file:` scheme with @grpc/grpc-js (once). */
export function registerFileResolver(): void {
  if (registered) return;
  registered = true;
  grpc.experimental.registerResolver('file', FileResolver);
}
