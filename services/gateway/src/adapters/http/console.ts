import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The console's static files: copied next to the compiled code by the build (dist/public), else the sources. */
const PUBLIC_CANDIDATES = [
  join(__dirname, '..', '..', '..', 'public'),
  join(__dirname, '..', '..', '..', '..', 'public'),
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Files of swagger-ui-dist (its standalone bundle, no CDN) that /docs serves. */
const SWAGGER_FILES = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png'];

export interface ConsoleOptions {
  /** The OpenID issuer the browser signs in against; undefined: sign-in is off (open edge). */
  issuerUrl: string | undefined;
  clientId: string;
  /** Base of trace links (`${tracesUiUrl}/traces/<traceId>`); undefined: no trace links. */
  tracesUiUrl: string | undefined;
  /** Base of a Prometheus UI for metrics links; undefined: no metrics links. */
  metricsUiUrl: string | undefined;
  /** 'open': the edge takes no tokens (AUTH_MODE=open). */
  authMode: string;
}

interface StaticFile {
  type: string;
  body: Buffer;
}

/** Every file under `dir`, by URL path under `prefix`, read once at start (a handful of small files). */
function readTree(dir: string, prefix: string, out = new Map<string, StaticFile>()): Map<string, StaticFile> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readTree(path, `${prefix}${entry.name}/`, out);
    else {
      const type = TYPES[extname(entry.name)];
      if (type) out.set(`${prefix}${entry.name}`, { type, body: readFileSync(path) });
    }
  }
  return out;
}

const send = (reply: FastifyReply, f: StaticFile) =>
  reply
    .type(f.type)
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .send(f.body);

/** The URL paths the console answers (beside /v1): the routes' table uses them for its 404/405 answers. */
export const CONSOLE_PATHS = ['/', '/auth/callback', '/console/config.json', '/docs'];

/**
 * The web console (docs/console.md): `/` and `/auth/callback` (the page), `/console/*` (its modules and styles),
 * `/console/config.json` (issuer, client and links, from the gateway's configuration), and `/docs` (openapi.yaml
 * rendered by swagger-ui-dist from node_modules). No build step: plain HTML, CSS and ES modules.
 */
export function registerConsole(app: FastifyInstance, opts: ConsoleOptions): void {
  const dir = PUBLIC_CANDIDATES.find((d) => existsSync(join(d, 'index.html')));
  if (!dir) throw new Error(`the console's files are missing (looked in ${PUBLIC_CANDIDATES.join(', ')})`);
  const files = readTree(dir, '/');
  const index = files.get('/index.html');
  const docs = files.get('/docs.html');
  if (!index || !docs) throw new Error(`${dir}: index.html or docs.html missing`);
  const swaggerDir = dirname(require.resolve('swagger-ui-dist/package.json'));
  for (const name of SWAGGER_FILES) {
    const type = TYPES[extname(name)] ?? 'application/octet-stream';
    files.set(`/docs/${name}`, { type, body: readFileSync(join(swaggerDir, name)) });
  }
  const config = JSON.stringify({
    authMode: opts.authMode,
    issuer: opts.issuerUrl ?? null,
    clientId: opts.clientId,
    tracesUiUrl: opts.tracesUiUrl?.replace(/\/+$/, '') ?? null,
    metricsUiUrl: opts.metricsUiUrl?.replace(/\/+$/, '') ?? null,
  });

  app.get('/', (_req, reply) => send(reply, index));
  app.get('/auth/callback', (_req, reply) => send(reply, index));
  app.get('/docs', (_req, reply) => send(reply, docs));
  app.get('/console/config.json', (_req, reply) =>
    reply.type('application/json').header('cache-control', 'no-store').send(config),
  );
  app.get('/console/*', (req, reply) => {
    const f = files.get(req.url.split('?')[0]?.slice('/console'.length) ?? '');
    return f ? send(reply, f) : reply.callNotFound();
  });
  app.get('/docs/*', (req, reply) => {
    const f = files.get(req.url.split('?')[0] ?? '');
    return f ? send(reply, f) : reply.callNotFound();
  });
}
