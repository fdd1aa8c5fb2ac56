// The property-based check of the REST edge against its published contract (scripts/contract-fuzz.sh: schemathesis,
// driven only by openapi.yaml), run against the real gateway and backends of this test, on the test run's
// PostgreSQL and Kafka. schemathesis comes from PyPI, installed once into a virtualenv cached outside the repository
// (~/.cache/cloud-native-shop/schemathesis-<version>), as grpcurl is built once from its Go module; SHOP_SCHEMATHESIS
// names an existing `st` binary instead.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningGateway } from './support';
import { startGateway, tokenOf } from './support';
import type { Stack } from './stack';
import { startBackends } from './stack';

const SCHEMATHESIS_VERSION = '4.32.5';
const ROOT = join(__dirname, '..', '..', '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'contract-fuzz.sh');

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<{ status: number | null; output: string }>((resolve) => {
    execFile(
      command,
      args,
      { encoding: 'utf8', timeout: timeoutMs, env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({
          status: error ? (typeof error.code === 'number' ? error.code : null) : 0,
          output: `${stdout}${stderr}${error && typeof error.code !== 'number' ? `\n${error.message}` : ''}`,
        }),
    );
  });
}

/** The `st` binary of the pinned schemathesis: installed with pip into its own virtualenv on first use. */
async function ensureSchemathesis(): Promise<string> {
  const given = process.env.SHOP_SCHEMATHESIS;
  if (given) {
    if (!existsSync(given)) throw new Error(`SHOP_SCHEMATHESIS=${given} does not exist`);
    return given;
  }
  const venv = join(homedir(), '.cache', 'cloud-native-shop', `schemathesis-${SCHEMATHESIS_VERSION}`);
  const st = join(venv, 'bin', 'st');
  if (existsSync(st)) return st;
  const created = await run('python3', ['-m', 'venv', venv], process.env, 120_000);
  if (created.status !== 0)
    throw new Error(
      `the contract fuzz test installs schemathesis into a virtualenv and \`python3 -m venv\` failed (Debian: apt-get install python3-venv): ${created.output}`,
    );
  const pip = await run(
    join(venv, 'bin', 'pip'),
    ['install', '--quiet', `schemathesis==${SCHEMATHESIS_VERSION}`],
    process.env,
    10 * 60_000,
  );
  if (pip.status !== 0 || !existsSync(st))
    throw new Error(`pip install schemathesis==${SCHEMATHESIS_VERSION} failed: ${pip.output.slice(-2000)}`);
  return st;
}

describe('the REST edge against its published OpenAPI document (schemathesis, every check)', () => {
  let stack: Stack;
  let gw: RunningGateway;
  let st: Promise<string>;

  before(async () => {
    // Installed (or found) while the services start.
    st = ensureSchemathesis();
    st.catch(() => undefined);
    stack = await startBackends();
    gw = await startGateway({ ...stack.addresses, deadlineMs: 5000 });
  });
  after(async () => {
    await gw?.stop();
    await stack?.stop();
  });

  it('finds no answer the document does not allow', { timeout: 15 * 60_000 }, async () => {
    const r = await run(
      'bash',
      [SCRIPT, gw.url],
      // A customer's token from the real issuer (its customerId is the one schemathesis may meet; others are 403).
      { ...process.env, SCHEMATHESIS: await st, FUZZ_MAX_EXAMPLES: '40', FUZZ_TOKEN: await tokenOf('fuzz') },
      10 * 60_000,
    );
    const summary = /Test cases:\s*\n\s*(\d+) generated, (\d+) passed/.exec(r.output);
    assert.equal(r.status, 0, r.output.slice(-6000));
    assert.ok(summary, `schemathesis printed its summary:\n${r.output.slice(-2000)}`);
    const [generated, passed] = [Number(summary[1]), Number(summary[2])];
    // Not a run that generated nothing: every /v1 operation is exercised.
    assert.ok(generated >= 300, `${generated} requests generated`);
    assert.equal(passed, generated, r.output.slice(-6000));
    assert.match(r.output, /No issues found/);
  });
});
