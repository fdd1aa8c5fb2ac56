// Recording stubs of kubectl, helm, istioctl, kind, curl and docker for the cluster lab scripts (k8s/labs): each call is
// logged (tool, argv, stdin) and answered by the first matching rule, like the real tool would (output, exit code),
// from a small state the rules change (a scaled Deployment stays scaled). A call no rule expects fails (exit 97),
// so a script cannot do anything its test did not foresee.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Rule {
  tool: 'kubectl' | 'helm' | 'istioctl' | 'kind' | 'curl' | 'docker';
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

export interface Call {
  tool: string;
  args: string[];
  stdin: string;
}

const STUB = `
const fs = require('node:fs');
const path = require('node:path');
const dir = process.env.STUB_DIR;
const [tool, ...args] = process.argv.slice(2);
let stdin = '';
try { stdin = fs.readFileSync(0, 'utf8'); } catch {}
fs.appendFileSync(path.join(dir, 'calls.jsonl'), JSON.stringify({ tool, args, stdin }) + '\\n');
const rules = JSON.parse(fs.readFileSync(path.join(dir, 'rules.json'), 'utf8'));
const statePath = path.join(dir, 'state.json');
const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
const line = args.join(' ');
const i = rules.findIndex((r) => r.tool === tool && r.has.every((h) => line.includes(h)) &&
  Object.entries(r.when || {}).every(([k, v]) => (state[k] ?? '') === v));
if (i < 0) {
  process.stderr.write('stub ' + tool + ': no rule for: ' + line + '\\n');
  fs.appendFileSync(path.join(dir, 'unmatched.log'), tool + ' ' + line + '\\n');
  process.exit(97);
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
if (out !== undefined) process.stdout.write(fill(out));
if (r.stderr) process.stderr.write(fill(r.stderr));
process.exit(r.exit ?? 0);
`;

export interface StubRun {
  status: number;
  stdout: string;
  stderr: string;
  calls: Call[];
  unmatched: string;
  state: Record<string, string>;
}

/** Runs a script with the stubs first on PATH; env adds to (or, for PATH, replaces) the environment. */
export function runWithStubs(
  script: string,
  args: string[],
  rules: Rule[],
  state: Record<string, string> = {},
  env: Record<string, string> = {},
): StubRun {
  const dir = mkdtempSync(join(tmpdir(), 'shop-stubs-'));
  writeFileSync(join(dir, 'stub.js'), STUB);
  writeFileSync(join(dir, 'rules.json'), JSON.stringify(rules));
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
  writeFileSync(join(dir, 'calls.jsonl'), '');
  writeFileSync(join(dir, 'unmatched.log'), '');
  const bin = join(dir, 'bin');
  spawnSync('mkdir', [bin]);
  for (const tool of ['kubectl', 'helm', 'istioctl', 'kind', 'curl', 'docker']) {
    const file = join(bin, tool);
    writeFileSync(file, `#!/bin/sh\nexec "${process.execPath}" "${join(dir, 'stub.js')}" ${tool} "$@"\n`);
    chmodSync(file, 0o755);
  }
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
