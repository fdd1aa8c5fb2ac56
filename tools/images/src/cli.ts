#!/usr/bin/env node
// `npm run images -- [--service <s>]... [--tag <t>] [--engine docker|podman] [--node-image <ref>]`
import { parseArgs } from 'node:util';
import {
  buildImages,
  detectEngine,
  type Engine,
  NO_ENGINE,
  type Service,
  SERVICES,
  table,
  UsageError,
} from './images';

const USAGE = `usage: npm run images -- [--service <name>]... [--tag <tag>] [--engine docker|podman] [--node-image <ref>] [--quiet]

Builds the service images cloud-native-shop/<service>:<tag> from the root Dockerfile and prints each one's size.
  --service <name>   gateway, orders, inventory or payments (repeat it, or a comma-separated list; default: all four)
  --tag <tag>        image tag (default: 0.1.0, the chart's and k8s/lib.sh's IMAGE_TAG)
  --engine <e>       docker or podman (default: docker if its daemon answers, else podman)
  --node-image <ref> base image (default with docker: the Dockerfile's node:24-bookworm-slim; with podman: the
                     stand-in from scripts/base-image.sh, built once from Debian's packages and the npm registry)
  --quiet            do not show the engine's build output
  --help             this text`;

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      service: { type: 'string', multiple: true },
      tag: { type: 'string', default: '0.1.0' },
      engine: { type: 'string' },
      'node-image': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const services = (values.service ?? [...SERVICES]).flatMap((s) => s.split(',')).filter((s) => s !== '');
  for (const s of services) {
    if (!(SERVICES as readonly string[]).includes(s)) {
      throw new UsageError(`unknown service '${s}' (expected one of ${SERVICES.join(', ')})`);
    }
  }
  let engine: Engine | undefined;
  if (values.engine === 'docker' || values.engine === 'podman') engine = values.engine;
  else if (values.engine !== undefined) {
    throw new UsageError(`unknown engine '${values.engine}' (expected docker or podman)`);
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(values.tag)) {
    throw new UsageError(`invalid tag '${values.tag}'`);
  }
  return {
    help: values.help,
    services: [...new Set(services)] as Service[],
    tag: values.tag,
    engine,
    nodeImage: values['node-image'],
    quiet: values.quiet,
  };
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`images: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const engine = args.engine ?? detectEngine();
  if (!engine) {
    console.error(`images: ${NO_ENGINE}`);
    return 1;
  }
  const started = Date.now();
  const built = await buildImages({
    engine,
    services: args.services,
    tag: args.tag,
    nodeImage: args.nodeImage,
    log: (line) => console.log(`images: ${line}`),
    output: args.quiet ? undefined : (chunk) => process.stdout.write(chunk),
  });
  console.log(
    `\n${table(built)}\n\n${built.length} image(s) with ${engine} in ${((Date.now() - started) / 60_000).toFixed(1)} min`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`images: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
