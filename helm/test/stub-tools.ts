// Recording stubs of kubectl, helm, istioctl, kind and curl (docker, podman, npm on request) for the cluster lab scripts (k8s/labs): each call is
// logged (tool, argv, stdin) and answered by the first matching rule, like the real tool would (output, exit code),
// from a small state the rules change (a scaled Deployment stays scaled). A call no rule expects fails (exit 97),
// so a script cannot do anything its test did not foresee.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Rule {
  /** docker, podman and npm are stubbed only when runWithStubs is given them in `extraTools`. */
  tool: 'kubectl' | 'helm' | 'istioctl' | 'kind' | 'curl' | ExtraTool;
  /** Every string must occur in the space-joined argv. */
  has: string[];
  /** State values the rule applies in. */
  when?: Record<string, string>;
  /** Printed; {{key}} is replaced by the state's value. */
  stdout?: string;
  /** Printed in turn, one per call (then from the start again). */
  stdoutSeq?: string[];
  stderr?: string;
  exit?: number;
  set?: Record<string, string>;
  /** Adds step to the state number `key` before answering (a counter that grows with traffic). */
  counter?: { key: string; step: number };
  /** Reads the file of an argument `<prefix><path>` into the state key (what `--from-file=` uploads). */
  captureFile?: { prefix: string; key: string }[];
  /** curl: written to the file of `-o` ({{key}} replaced). */
  body?: string;
}

/** Tools stubbed on request only (a script that builds images); the others are always stubbed. */
export type ExtraTool = 'docker' | 'podman' | 'npm';

export interface Call {
  tool: string;
  args: string[];
  stdin: string;
}

// One answering process per run (a node start per call cost 0.1-0.3 s on a loaded machine, most of a lab test's
// time): the tool scripts hand their argv and stdin over a Unix socket with the real curl and print its answer.
const SERVER = `
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const dir = process.env.STUB_DIR;
const rules = JSON.parse(fs.readFileSync(path.join(dir, 'rules.json'), 'utf8'));
const statePath = path.join(dir, 'state.json');
const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
function answer(tool, args, stdin) {
  fs.appendFileSync(path.join(dir, 'calls.jsonl'), JSON.stringify({ tool, args, stdin }) + '\\n');
  const line = args.join(' ');
  const i = rules.findIndex((r) => r.tool === tool && r.has.every((h) => line.includes(h)) &&
    Object.entries(r.when || {}).every(([k, v]) => (state[k] ?? '') === v));
  if (i < 0) {
    fs.appendFileSync(path.join(dir, 'unmatched.log'), tool + ' ' + line + '\\n');
    return { out: '', err: 'stub ' + tool + ': no rule for: ' + line + '\\n', code: 97 };
  }
  const r = rules[i];
  for (const c of r.captureFile || []) {
    const a = args.find((x) => x.includes(c.prefix));
    if (a) state[c.key] = fs.readFileSync(a.slice(a.indexOf(c.prefix) + c.prefix.length), 'utf8');
  }
  if (r.counter) state[r.counter.key] = String(Number(state[r.counter.key] || 0) + r.counter.step);
  Object.assign(state, r.set || {});
  const fill = (s) => s.replace(/{{(\\w+)}}/g, (_, k) => state[k] ?? '');
  let out = r.stdout;
  if (r.stdoutSeq) {
    const n = Number(state['__seq' + i] || 0);
    out = r.stdoutSeq[n % r.stdoutSeq.length];
    state['__seq' + i] = String(n + 1);
  }
  if (r.body !== undefined) {
    const o = args.indexOf('-o');
    if (o >= 0) fs.writeFileSync(args[o + 1], fill(r.body));
  }
  fs.writeFileSync(statePath, JSON.stringify(state));
  return { out: out === undefined ? '' : fill(out), err: r.stderr ? fill(r.stderr) : '', code: r.exit ?? 0 };
}
http.createServer((req, res) => {
  const call = new URL(req.url, 'http://stub').searchParams.get('d');
  let status = 200;
  try {
    const tool = path.basename(path.dirname(call + '/x')).replace(/^call-(\\w+)-.*$/, '$1');
    const args = fs.readFileSync(path.join(call, 'args'), 'utf8').split('\\0').slice(0, -1);
    const a = answer(tool, args, fs.readFileSync(path.join(call, 'stdin'), 'utf8'));
    fs.writeFileSync(path.join(call, 'stdout'), a.out);
    fs.writeFileSync(path.join(call, 'stderr'), a.err);
    fs.writeFileSync(path.join(call, 'code'), String(a.code));
  } catch (e) {
    fs.appendFileSync(path.join(dir, 'unmatched.log'), 'stub server: ' + e.message + '\\n');
    status = 500;
  }
  res.writeHead(status).end();
}).listen(path.join(dir, 'stub.sock'), () => fs.writeFileSync(path.join(dir, 'ready'), ''));
`;

// The tool: argv (NUL-separated) and stdin to files, one request to the server, its answer printed.
const toolScript = (tool: string, curl: string) => `#!/bin/bash
d=$(mktemp -d "$STUB_DIR/calls/call-${tool}-XXXXXX")
printf '%s\\0' "$@" >"$d/args"
# Like the real tools, read stdin only when told to (-f -, exec -i): a call inside a \`while read\` loop must not
# swallow the loop's input.
read_in=false
for a in "$@"; do case "$a" in - | -i | --stdin | -f- | --filename=-) read_in=true ;; esac; done
if [ "$read_in" = true ]; then cat >"$d/stdin" 2>/dev/null || :; else : >"$d/stdin"; fi
"${curl}" -sf --unix-socket "$STUB_DIR/stub.sock" "http://stub/?d=$d" -o /dev/null || { echo "stub ${tool}: the stub server did not answer" >&2; exit 98; }
cat "$d/stdout"
cat "$d/stderr" >&2
exit "$(cat "$d/code")"
`;

export interface StubRun {
  status: number;
  stdout: string;
  stderr: string;
  calls: Call[];
  unmatched: string;
  state: Record<string, string>;
}

/**
 * Runs a script with the stubs first on PATH; env adds to (or, for PATH, replaces) the environment. extraTools are
 * stubbed too (recorded, answered by the rules, refused without one).
 */
export function runWithStubs(
  script: string,
  args: string[],
  rules: Rule[],
  state: Record<string, string> = {},
  env: Record<string, string> = {},
  extraTools: ExtraTool[] = [],
): StubRun {
  const dir = mkdtempSync(join(tmpdir(), 'shop-stubs-'));
  writeFileSync(join(dir, 'server.js'), SERVER);
  writeFileSync(join(dir, 'rules.json'), JSON.stringify(rules));
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
  writeFileSync(join(dir, 'calls.jsonl'), '');
  writeFileSync(join(dir, 'unmatched.log'), '');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  mkdirSync(join(dir, 'calls'));
  const curl = spawnSync('bash', ['-c', 'command -v curl'], { encoding: 'utf8' }).stdout.trim();
  assert.ok(curl, 'the stubs need the real curl (Debian package curl)');
  for (const tool of ['kubectl', 'helm', 'istioctl', 'kind', 'curl', ...extraTools]) {
    const file = join(bin, tool);
    writeFileSync(file, toolScript(tool, curl));
    chmodSync(file, 0o755);
  }
  const server = spawn(process.execPath, [join(dir, 'server.js')], {
    env: { ...process.env, STUB_DIR: dir },
    stdio: 'ignore',
  });
  // spawnSync below blocks this process: wait for the server here, bounded (5 s).
  for (let i = 0; i < 250 && !existsSync(join(dir, 'ready')); i++) spawnSync('sleep', ['0.02']);
  assert.ok(existsSync(join(dir, 'ready')), 'the stub server did not start within 5 s');
  const r = spawnSync('bash', [script, ...args], {
    encoding: 'utf8',
    input: '',
    timeout: 120_000,
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      STUB_DIR: dir,
      K8S_LAB_STATE_DIR: join(dir, 'lab-state'),
      POLL_S: '0',
      WAIT_TIMEOUT_S: '5',
      SCRAPE_SETTLE_S: '0',
      OUTLIER_SETTLE_S: '0',
      ORDER_SETTLE_S: '0',
      ...env,
    },
  });
  server.kill();
  const calls = readFileSync(join(dir, 'calls.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Call);
  return {
    status: r.status ?? 1,
    stdout: r.stdout,
    stderr: r.stderr,
    calls,
    unmatched: readFileSync(join(dir, 'unmatched.log'), 'utf8'),
    state: JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, string>,
  };
}

/** Asserts helper: the index after which each expected call occurs, in order; -1 when one is missing. */
export function missingInOrder(calls: Call[], expected: [string, string[]][]): string | undefined {
  let from = 0;
  for (const [tool, has] of expected) {
    const i = calls.findIndex(
      (c, n) => n >= from && c.tool === tool && has.every((h) => c.args.join(' ').includes(h)),
    );
    if (i < 0) return `${tool} ${has.join(' … ')} (after call ${from})`;
    from = i + 1;
  }
  return undefined;
}
