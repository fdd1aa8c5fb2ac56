// The lab interface and the runner. A lab is a test a person can watch: break, observe, fix, verify, reset. Each
// phase that grades (observe, verify) returns checks measured from what leaves the system, never from a flag the
// lab set; verify is followed by the saga invariants (load/src/consistency.ts).
import { check as checkConsistency } from '@shop/load/dist/src/consistency';
import type { Platform, ServiceName } from './platform';
import { SERVICE_NAMES, waitPlatformReady } from './platform';
import type { Series } from './measure';
import { scrape } from './measure';

export type PhaseName = 'break' | 'observe' | 'fix' | 'verify' | 'reset';
export const PHASES: PhaseName[] = ['break', 'observe', 'fix', 'verify', 'reset'];

export interface Check {
  what: string;
  expected: string;
  measured: string;
  ok: boolean;
}

export interface LabSource {
  /** 'seed' = the nine incident scenarios (000_…txt), 'book' = the book (001_…txt). */
  document: 'seed' | 'book';
  /** 'scenario 4' or 'section 8.5'. */
  ref: string;
  title: string;
}

export interface LabContext {
  platform: Platform;
  /** A line of narration (printed, and kept in --json output). */
  say(line: string): void;
  setFault(service: ServiceName, name: string, params?: Record<string, unknown>): Promise<void>;
  clearFault(service: ServiceName, name: string): Promise<void>;
  /** A fault on a replica of startReplica (its own admin API). */
  setReplicaFault(
    service: ServiceName,
    slot: number,
    name: string,
    params?: Record<string, unknown>,
  ): Promise<void>;
  /** /metrics of a service, parsed. */
  metrics(service: ServiceName): Promise<Series[]>;
  /** Scratch space shared by the phases of one run (baselines, ids). */
  state: Record<string, unknown>;
  /** When this run's break phase started (ms epoch); 0 when break did not run in this process. */
  brokenAt: number;
}

export interface Lab {
  id: string;
  title: string;
  source: LabSource;
  /** Where the lab runs today; 'kind' only when it has been run there. */
  runsOn: ('local' | 'kind')[];
  /** Rough duration of break→reset on the lab's own platform, in seconds (list output). */
  durationS: number;
  /** Whether fix or break restart a service with other variables (not possible with --attach). */
  restarts: boolean;
  break(ctx: LabContext): Promise<void>;
  observe(ctx: LabContext): Promise<Check[]>;
  fix(ctx: LabContext): Promise<void>;
  verify(ctx: LabContext): Promise<Check[]>;
  /** Back to the baseline whatever happened: faults off, services on their baseline variables. */
  reset(ctx: LabContext): Promise<void>;
}

export interface PhaseResult {
  phase: PhaseName;
  ms: number;
  checks: Check[];
  error?: string;
  ok: boolean;
}

export interface LabRun {
  lab: string;
  noFix: boolean;
  phases: PhaseResult[];
  /** Every graded check held (with --no-fix this is expected to be false: verify fails). */
  ok: boolean;
  ms: number;
  narration: string[];
}

async function admin(
  platform: Platform,
  service: ServiceName | { admin: number },
  method: 'PUT' | 'DELETE' | 'GET',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const port = typeof service === 'string' ? platform.ports[service].admin : service.admin;
  const url = `http://127.0.0.1:${port}${path}`;
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

export function labContext(platform: Platform, say: (line: string) => void): LabContext {
  return {
    platform,
    say,
    state: {},
    brokenAt: 0,
    async setFault(service, name, params = {}) {
      say(`fault on: ${service} ${name} ${JSON.stringify(params)}`);
      await admin(platform, service, 'PUT', `/faults/${name}`, params);
    },
    async setReplicaFault(service, slot, name, params = {}) {
      const r = platform.replicas().find((x) => x.service === service && x.slot === slot);
      if (!r) throw new Error(`no replica ${service}#${slot}`);
      say(`fault on: ${service}#${slot} ${name} ${JSON.stringify(params)}`);
      await admin(platform, r.ports, 'PUT', `/faults/${name}`, params);
    },
    async clearFault(service, name) {
      say(`fault off: ${service} ${name}`);
      await admin(platform, service, 'DELETE', `/faults/${name}`);
    },
    metrics: (service) => scrape(`http://127.0.0.1:${platform.ports[service].http}/metrics`),
  };
}

export async function clearFaults(ctx: LabContext): Promise<void> {
  for (const svc of SERVICE_NAMES) {
    const view = (await admin(ctx.platform, svc, 'GET', '/faults')) as { active: { name: string }[] };
    for (const f of view.active) await ctx.clearFault(svc, f.name);
  }
}

/** Every fault off in every service; services restarted on their baseline if a lab changed their variables. */
export async function resetPlatform(ctx: LabContext): Promise<void> {
  for (const r of ctx.platform.replicas()) await ctx.platform.stopReplica(r.service, r.slot);
  for (const svc of SERVICE_NAMES)
    if (ctx.platform.resources(svc)) await ctx.platform.setResources(svc, undefined);
  await clearFaults(ctx);
  for (const svc of SERVICE_NAMES) {
    if (Object.keys(ctx.platform.overrides(svc)).length > 0) await ctx.platform.restart(svc, {});
  }
  // Restored means ready: the next lab starts on a platform that answers.
  await waitPlatformReady(ctx.platform);
}

const tlsArgs = (env: Record<string, string>) =>
  env.GRPC_TLS_CERT_FILE && env.GRPC_TLS_KEY_FILE && env.GRPC_TLS_CA_FILE
    ? [
        '--tls-cert',
        env.GRPC_TLS_CERT_FILE,
        '--tls-key',
        env.GRPC_TLS_KEY_FILE,
        '--tls-ca',
        env.GRPC_TLS_CA_FILE,
      ]
    : [];

/** The saga invariants across the three services, as verify checks. */
export async function sagaInvariants(platform: Platform): Promise<Check[]> {
  const p = platform.ports;
  const violations = await checkConsistency([
    '--orders',
    `127.0.0.1:${p.orders.grpc}`,
    '--inventory',
    `127.0.0.1:${p.inventory.grpc}`,
    '--payments',
    `127.0.0.1:${p.payments.grpc}`,
    '--settle-ms',
    '30000',
    // A lab that turned on gRPC mTLS (cert-rotation): the check presents the certificate orders has.
    ...tlsArgs(platform.overrides('orders')),
  ]);
  return [
    {
      what: 'saga invariants (stock, payments, no stuck order)',
      expected: 'no violation',
      measured:
        violations.length === 0 ? 'none' : `${violations.length}: ${violations.slice(0, 3).join('; ')}`,
      ok: violations.length === 0,
    },
  ];
}

/**
 * Tells the gateway's admin API (`PUT /labs/current`) where the run is, for the console's operator view. Best
 * effort: a gateway that is down, restarting or older than the console only misses a report; the lab goes on.
 */
export async function reportPhase(
  platform: Platform,
  lab: Lab,
  phase: string,
  state: 'running' | 'passed' | 'failed',
  done: PhaseResult[],
): Promise<void> {
  // ok and ms are null for the phase still running.
  const phases: { phase: string; ok: boolean | null; ms: number | null }[] = done.map((p) => ({
    phase: p.phase,
    ok: p.ok,
    ms: p.ms,
  }));
  if (state === 'running') phases.push({ phase, ok: null, ms: null });
  await fetch(`http://127.0.0.1:${platform.ports.gateway.admin}/labs/current`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ lab: lab.id, title: lab.title, phase, state, phases }),
    signal: AbortSignal.timeout(2000),
  })
    .then((res) => res.body?.cancel())
    .catch(() => undefined);
}

export interface RunOptions {
  noFix?: boolean;
  /** Only these phases (with --attach); default all of them. */
  phases?: PhaseName[];
  say?: (line: string) => void;
}

/** Runs a lab's phases in order; reset always runs when it is among the phases, even after a failure. */
export async function runLab(lab: Lab, platform: Platform, opts: RunOptions = {}): Promise<LabRun> {
  const narration: string[] = [];
  const say = (line: string) => {
    narration.push(line);
    opts.say?.(line);
  };
  if (lab.restarts && platform.mode === 'attach')
    say(`note: ${lab.id} restarts services in break/fix; with --attach those phases fail with instructions`);
  const ctx = labContext(platform, say);
  const wanted = opts.phases ?? PHASES;
  const started = Date.now();
  const phases: PhaseResult[] = [];
  let failed = false;
  for (const phase of wanted) {
    if (phase === 'fix' && opts.noFix) {
      say('fix: skipped (--no-fix): verify is expected to fail');
      continue;
    }
    if (failed && phase !== 'reset') continue;
    const t = Date.now();
    say(`-- ${phase}`);
    await reportPhase(platform, lab, phase, 'running', phases);
    try {
      let checks: Check[] = [];
      if (phase === 'observe') checks = await lab.observe(ctx);
      else if (phase === 'verify') {
        checks = await lab.verify(ctx);
        // The invariants are about the data the incident left behind; they are read through the same APIs a
        // fault may still slow down, so the faults go off first (reset would do it next anyway).
        await clearFaults(ctx);
        checks.push(...(await sagaInvariants(platform)));
      } else if (phase === 'break') {
        // A lab breaks a platform that works: one still restarting a service would fail the lab for that reason.
        await waitPlatformReady(ctx.platform);
        // The alerts of this run are evaluated over this run's samples only (own platform: a fresh TSDB).
        await ctx.platform.prometheus?.fresh();
        ctx.brokenAt = Date.now();
        await lab.break(ctx);
      } else if (phase === 'fix') await lab.fix(ctx);
      else {
        await lab.reset(ctx);
        await resetPlatform(ctx);
      }
      const ok = checks.every((c) => c.ok);
      phases.push({ phase, ms: Date.now() - t, checks, ok });
      // A missed observation means the break did not break: stop grading (reset still runs).
      if (!ok && phase === 'observe') failed = true;
    } catch (err) {
      phases.push({ phase, ms: Date.now() - t, checks: [], error: (err as Error).message, ok: false });
      if (phase !== 'reset') failed = true;
    }
  }
  const last = phases.at(-1)?.phase ?? 'none';
  await reportPhase(platform, lab, last, phases.every((p) => p.ok) ? 'passed' : 'failed', phases);
  return {
    lab: lab.id,
    noFix: opts.noFix ?? false,
    phases,
    ok: phases.every((p) => p.ok),
    ms: Date.now() - started,
    narration,
  };
}

export function formatRun(run: LabRun): string {
  const lines: string[] = [];
  for (const p of run.phases) {
    lines.push(
      `${p.phase.padEnd(8)} ${p.ok ? 'ok  ' : 'MISS'} ${(p.ms / 1000).toFixed(1)} s${p.error ? `  error: ${p.error}` : ''}`,
    );
    if (p.checks.length === 0) continue;
    const rows = p.checks.map((c) => [c.ok ? 'ok' : 'MISS', c.what, c.expected, c.measured]);
    const head = ['', 'check', 'expected', 'measured'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const row = (r: string[]) => `    ${r.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ')}`.trimEnd();
    lines.push(row(head), `    ${w.map((n) => '-'.repeat(n)).join('  ')}`, ...rows.map(row));
  }
  const verify = run.phases.find((p) => p.phase === 'verify');
  if (run.noFix && verify)
    lines.push(
      verify.ok
        ? `${run.lab}: verify PASSED without the fix: the grade does not measure the incident (a defect of the lab)`
        : `${run.lab}: verify failed without the fix, as expected (--no-fix)`,
    );
  else
    lines.push(
      `${run.lab}: ${run.ok ? 'every check held' : 'MISSED checks'} in ${(run.ms / 1000).toFixed(0)} s`,
    );
  return lines.join('\n');
}

export const check = (what: string, expected: string, measured: string, ok: boolean): Check => ({
  what,
  expected,
  measured,
  ok,
});
