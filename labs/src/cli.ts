// `npm run lab -- list | <id> [break|observe|fix|verify|reset] [--no-fix] [--json] [--attach]`
import { join } from 'node:path';
import type { LabRun, PhaseName } from './lab';
import { formatRun, PHASES, runLab } from './lab';
import { clusterLabById, CLUSTER_LABS } from './cluster-labs';
import { LABS, labById } from './index';
import type { Platform } from './platform';
import { attachPlatform, startOwnPlatform } from './platform';

const ROOT = join(__dirname, '..', '..', '..');

const USAGE = `usage: npm run lab -- list
       npm run lab -- <id> [--no-fix] [--json]          every phase on a platform of its own (.local/lab)
       npm run lab -- <id> <phase> --attach [--json]    one phase against \`npm start\` (phases: ${PHASES.join(', ')})
       npm run lab -- <id> --attach [--no-fix]          every phase against \`npm start\`
options: --no-fix (skip fix: verify must fail), --json (one JSON result on stdout), --attach (use \`npm start\`),
         --keep (leave the own platform running; Ctrl+C stops it)`;

/** The lab platform of the CLI: ports apart from npm start (55432/59092/8080/91xx/5005x) and npm test. */
export const CLI_PLATFORM = {
  stateDir: join(ROOT, '.local', 'lab'),
  // SHOP_LAB_PG_PORT / SHOP_LAB_KAFKA_PORT / SHOP_LAB_BASE_PORT move it, to run two lab platforms side by side.
  postgresPort: Number(process.env.SHOP_LAB_PG_PORT || 56432),
  kafkaPort: Number(process.env.SHOP_LAB_KAFKA_PORT || 56492),
  basePort: Number(process.env.SHOP_LAB_BASE_PORT || 18080),
  // A saga step deadline of 4 s instead of 30 s keeps the labs short; every other variable is the product default.
  env: { SAGA_STEP_TIMEOUT_MS: '4000' },
};

function list(json: boolean) {
  const rows = [...LABS, ...CLUSTER_LABS].map((l) => ({
    id: l.id,
    source: `${l.source.document === 'seed' ? 'incident' : 'book'} ${l.source.ref}: ${l.source.title}`,
    runsOn: typeof l.runsOn === 'string' ? l.runsOn : l.runsOn.join(', '),
    duration: `~${l.durationS} s`,
    title: l.title,
  }));
  if (json) return void process.stdout.write(`${JSON.stringify(rows)}\n`);
  const head = { id: 'id', source: 'source', runsOn: 'runs on', duration: 'duration', title: 'what' };
  const keys = Object.keys(head) as (keyof typeof head)[];
  const w = keys.map((k) => Math.max(head[k].length, ...rows.map((r) => r[k].length)));
  const line = (r: Record<string, string>) =>
    keys
      .map((k, i) => (r[k] ?? '').padEnd(w[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log([line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n'));
}

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const words = argv.filter((a) => !a.startsWith('--'));
  const unknown = [...flags].filter(
    (f) => !['--no-fix', '--json', '--attach', '--keep', '--help'].includes(f),
  );
  if (flags.has('--help') || words.length === 0 || unknown.length > 0) {
    if (unknown.length) console.error(`unknown option ${unknown.join(' ')}`);
    console.error(USAGE);
    return flags.has('--help') ? 0 : 2;
  }
  const json = flags.has('--json');
  const [id = '', phase] = words;
  if (id === 'list') {
    list(json);
    return 0;
  }
  const lab = labById(id);
  const onCluster = clusterLabById(id);
  if (onCluster) {
    console.error(
      `${id} runs on a cluster only: k8s/kind-up.sh, then k8s/labs/run.sh ${id} [phase] [--no-fix] (scripted for kind, tested against recording stubs, not yet run on a real cluster; docs/labs/${id}.md)`,
    );
    return 2;
  }
  if (!lab) {
    console.error(`unknown lab ${id}; one of ${[...LABS, ...CLUSTER_LABS].map((l) => l.id).join(', ')}`);
    return 2;
  }
  if (phase !== undefined && !PHASES.includes(phase as PhaseName)) {
    console.error(`unknown phase ${phase}; one of ${PHASES.join(', ')}`);
    return 2;
  }
  if (phase !== undefined && !flags.has('--attach')) {
    console.error(
      'a single phase runs against a platform that outlives it: add --attach (and run `npm start`)',
    );
    return 2;
  }
  const say = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
  let platform: Platform;
  if (flags.has('--attach')) platform = await attachPlatform();
  else {
    const t = Date.now();
    platform = await startOwnPlatform({ ...CLI_PLATFORM, say });
    say(`platform ready in ${((Date.now() - t) / 1000).toFixed(0)} s (edge ${platform.edge})`);
  }
  let run: LabRun;
  try {
    run = await runLab(lab, platform, {
      noFix: flags.has('--no-fix'),
      ...(phase ? { phases: [phase as PhaseName] } : {}),
      say,
    });
  } finally {
    if (!flags.has('--keep')) await platform.stop();
  }
  if (json) process.stdout.write(`${JSON.stringify(run)}\n`);
  else console.log(`\n${formatRun(run)}`);
  return run.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`lab failed to run: ${(err as Error).stack ?? String(err)}`);
    process.exit(2);
  },
);
