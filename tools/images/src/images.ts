// Builds the four service images from the root Dockerfile with docker (when a daemon answers) or podman.
// Where the engine is podman, the base is the stand-in that scripts/base-image.sh assembles from Debian's packages
// and the npm registry's Node binary (built once, then reused); with docker it is the Dockerfile's default, the real
// node:24-bookworm-slim. `--node-image` overrides either.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const SERVICES = ['gateway', 'orders', 'inventory', 'payments'] as const;
export type Service = (typeof SERVICES)[number];
export type Engine = 'docker' | 'podman';

export const repoRoot = join(__dirname, '..', '..', '..', '..');
/** The repository name of the images, as k8s/lib.sh and the chart's values name them. */
export const IMAGE_REPOSITORY = 'cloud-native-shop';

export class UsageError extends Error {}

/** docker if its daemon answers, else podman if installed; undefined when neither can build. */
export function detectEngine(): Engine | undefined {
  const docker = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (!docker.error && docker.status === 0 && docker.stdout.trim() !== '') return 'docker';
  const podman = spawnSync('podman', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (!podman.error && podman.status === 0) return 'podman';
  return undefined;
}

export const NO_ENGINE =
  'no container engine: neither a Docker daemon answers (`docker info`) nor podman is installed; ' +
  'install podman with `sudo scripts/install-podman.sh` (Debian) or start Docker';

export function imageRef(service: Service, tag: string): string {
  return `${IMAGE_REPOSITORY}/${service}:${tag}`;
}

/** The stand-in base's tag, building it first if it is missing (scripts/base-image.sh, once per machine). */
export function ensureStandInBase(engine: Engine, log: (line: string) => void): string {
  const script = join(repoRoot, 'scripts', 'base-image.sh');
  const tag = spawnSync('bash', [script, '--print-tag'], { encoding: 'utf8' });
  if (tag.status !== 0) throw new Error(`scripts/base-image.sh --print-tag failed: ${tag.stderr}`);
  const started = Date.now();
  const r = spawnSync('bash', [script, '--engine', engine], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 15 * 60_000,
  });
  if (r.status !== 0) {
    throw new Error(`scripts/base-image.sh failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
  const out = r.stdout.trim().split('\n');
  log(`${out[out.length - 1]} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return tag.stdout.trim();
}

export interface BuildOptions {
  engine: Engine;
  services: readonly Service[];
  tag: string;
  /** The base image; undefined: the Dockerfile's default (docker) or the stand-in (podman). */
  nodeImage?: string;
  log?: (line: string) => void;
  /** Where the engine's build output goes (the CLI shows it; the test keeps it for failures). */
  output?: (chunk: string) => void;
}

export interface BuiltImage {
  service: Service;
  ref: string;
  sizeBytes: number;
  seconds: number;
}

function run(cmd: string, args: string[], output: (chunk: string) => void, cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', output);
    child.stderr.setEncoding('utf8').on('data', output);
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

export function imageSize(engine: Engine, ref: string): number {
  const r = spawnSync(engine, ['image', 'inspect', '--format', '{{.Size}}', ref], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${engine} image inspect ${ref}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

export async function buildImages(opts: BuildOptions): Promise<BuiltImage[]> {
  const log = opts.log ?? (() => undefined);
  const output = opts.output ?? (() => undefined);
  const nodeImage =
    opts.nodeImage ?? (opts.engine === 'podman' ? ensureStandInBase(opts.engine, log) : undefined);
  const built: BuiltImage[] = [];
  for (const service of opts.services) {
    const ref = imageRef(service, opts.tag);
    const args = [
      'build',
      // RUN steps reach the npm registry through the host's network (no bridge network is needed).
      '--network',
      'host',
      '--build-arg',
      `SERVICE=${service}`,
      ...(nodeImage ? ['--build-arg', `NODE_IMAGE=${nodeImage}`] : []),
      '-t',
      ref,
      '-f',
      join(repoRoot, 'Dockerfile'),
      repoRoot,
    ];
    log(`building ${ref}${nodeImage ? ` on ${nodeImage}` : ''}`);
    const started = Date.now();
    let tail = '';
    const status = await run(
      opts.engine,
      args,
      (chunk) => {
        tail = (tail + chunk).slice(-4000);
        output(chunk);
      },
      repoRoot,
    );
    if (status !== 0) {
      throw new Error(`${opts.engine} ${args.join(' ')} failed (exit ${status}); last output:\n${tail}`);
    }
    const seconds = (Date.now() - started) / 1000;
    const sizeBytes = imageSize(opts.engine, ref);
    built.push({ service, ref, sizeBytes, seconds });
    log(`built ${ref}: ${formatSize(sizeBytes)} in ${seconds.toFixed(1)} s`);
  }
  return built;
}

export function formatSize(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

export function table(images: readonly BuiltImage[]): string {
  const rows = images.map(
    (i) => `${i.ref.padEnd(40)} ${formatSize(i.sizeBytes).padStart(8)} ${i.seconds.toFixed(1)} s`,
  );
  return [`${'image'.padEnd(40)} ${'size'.padStart(8)} build`, ...rows].join('\n');
}
