// The load generator's pass/fail thresholds, read from the SLO definitions the Prometheus rules are made of
// (observability/prometheus/rules/slo.yml, docs/slo.md): the objective of each SLO (`slo:objective:ratio`) and, for
// the latency SLOs, the histogram bucket the SLI counts as "fast enough" (`le="0.3"`, `le="2"`). No number is copied
// here: change the SLO file and the thresholds follow.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** The SLO file of the repository (the load package is compiled to load/dist/src). */
export const DEFAULT_SLO_FILE = join(
  __dirname,
  '..',
  '..',
  '..',
  'observability',
  'prometheus',
  'rules',
  'slo.yml',
);

export type ThresholdName = 'api-latency' | 'api-errors' | 'saga-latency' | 'saga-in-time';
export const THRESHOLD_NAMES: ThresholdName[] = ['api-latency', 'api-errors', 'saga-latency', 'saga-in-time'];

export interface Threshold {
  name: ThresholdName;
  /** What is measured: a latency percentile (ms) or a ratio of bad events. */
  kind: 'latency' | 'ratio';
  /** For a latency: the percentile (95 for "p95"). */
  percentile?: number;
  /** The limit: milliseconds for a latency, a ratio (0.005) for a ratio. The measured value must stay below it. */
  limit: number;
  /** Where the limit comes from: the SLO file, or the flag that overrode it. */
  source: string;
}

interface Rule {
  record?: string;
  labels?: Record<string, string>;
  expr?: string;
}

/** The objective and latency bound of every SLO in `file`. Throws naming what the file lacks. */
export function sloThresholds(file = DEFAULT_SLO_FILE): Threshold[] {
  let doc: { groups?: { rules?: Rule[] }[] };
  try {
    doc = parse(readFileSync(file, 'utf8')) as typeof doc;
  } catch (err) {
    throw new Error(`cannot read the SLO definitions ${file}: ${(err as Error).message}`, { cause: err });
  }
  const rules = (doc.groups ?? []).flatMap((g) => g.rules ?? []);
  const objective = (slo: string): number => {
    const r = rules.find((x) => x.record === 'slo:objective:ratio' && x.labels?.slo === slo);
    const m = /vector\(\s*([0-9.]+)\s*\)/.exec(r?.expr ?? '');
    if (!m?.[1]) throw new Error(`${file}: no slo:objective:ratio for slo="${slo}"`);
    return Number(m[1]);
  };
  const bucketMs = (slo: string): number => {
    const r = rules.find((x) => x.record === 'slo:sli_error:ratio_rate5m' && x.labels?.slo === slo);
    const m = /le="([0-9.]+)"/.exec(r?.expr ?? '');
    if (!m?.[1]) throw new Error(`${file}: the SLI of slo="${slo}" names no le="..." bucket`);
    return Number(m[1]) * 1000;
  };
  const src = `${file.split('/').slice(-3).join('/')}`;
  const latency = (name: ThresholdName): Threshold => ({
    name,
    kind: 'latency',
    percentile: Math.round(objective(name) * 1000) / 10,
    limit: bucketMs(name),
    source: src,
  });
  const ratio = (name: ThresholdName): Threshold => ({
    name,
    kind: 'ratio',
    limit: Math.round((1 - objective(name)) * 1e6) / 1e6,
    source: src,
  });
  return [latency('api-latency'), ratio('api-errors'), latency('saga-latency'), ratio('saga-in-time')];
}

/** `500ms`, `2s`, `1.5m`, `1h` or a bare number of seconds, as milliseconds. */
export function parseDuration(raw: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m?.[1])
    throw new Error(`${what}: expected a duration like 500ms, 30s, 5m or 1h, got ${JSON.stringify(raw)}`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
}

/** `0.5%` or `0.005` as a ratio in [0, 1]. */
export function parseRatio(raw: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(raw.trim());
  const v = m?.[1] ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!Number.isFinite(v) || v < 0 || v > 1)
    throw new Error(`${what}: expected a ratio like 0.5% or 0.005, got ${JSON.stringify(raw)}`);
  return v;
}

/**
 * Applies `--threshold name=value` overrides (`api-latency=800ms`, `api-latency=p99:800ms`, `api-errors=2%`,
 * `saga-latency=3s`, `saga-in-time=1%`) to the SLO thresholds. Unknown names and bad values throw naming them.
 */
export function applyOverrides(base: Threshold[], overrides: string[]): Threshold[] {
  const out = base.map((t) => ({ ...t }));
  for (const o of overrides) {
    const m = /^([\w-]+)=(.+)$/.exec(o);
    const name = m?.[1] as ThresholdName | undefined;
    const t = out.find((x) => x.name === name);
    if (!m?.[2] || !t)
      throw new Error(
        `--threshold ${JSON.stringify(o)}: expected <name>=<value> with name one of ${THRESHOLD_NAMES.join(', ')}`,
      );
    const what = `--threshold ${name}`;
    if (t.kind === 'latency') {
      const pm = /^p(\d+(?:\.\d+)?):(.+)$/.exec(m[2]);
      if (pm?.[1]) {
        const p = Number(pm[1]);
        if (!(p > 0 && p < 100))
          throw new Error(`${what}: percentile must be between 0 and 100, got p${pm[1]}`);
        t.percentile = p;
      }
      t.limit = parseDuration(pm?.[2] ?? m[2], what);
      if (t.limit <= 0) throw new Error(`${what}: the latency limit must be positive`);
    } else {
      t.limit = parseRatio(m[2], what);
    }
    t.source = `--threshold ${o}`;
  }
  return out;
}

export const describeThreshold = (t: Threshold): string =>
  t.kind === 'latency'
    ? `${t.name}: p${t.percentile} < ${t.limit} ms`
    : `${t.name}: ratio < ${(t.limit * 100).toFixed(3).replace(/\.?0+$/, '')}%`;
