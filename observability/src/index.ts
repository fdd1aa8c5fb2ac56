import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import { baseMetricName, extractMetricNames, SYNTHETIC_SERIES } from './promql';

export { baseMetricName, extractMetricNames, isPromqlWord, SYNTHETIC_SERIES } from './promql';

/** The observability package directory (this file is compiled to dist/src/index.js). */
export const packageDir = resolve(__dirname, '..', '..');
export const repoRoot = resolve(packageDir, '..');
export const rulesDir = join(packageDir, 'prometheus', 'rules');
export const promtoolTestsDir = join(packageDir, 'prometheus', 'tests');
export const dashboardsDir = join(packageDir, 'grafana', 'dashboards');
export const prometheusLocalConfig = join(packageDir, 'prometheus', 'prometheus.local.yml');

export interface Rule {
  file: string;
  group: string;
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface DashboardQuery {
  file: string;
  dashboard: string;
  panel: string;
  expr: string;
}

export interface MetricUse {
  /** The series name as written in the expression (`http_request_duration_seconds_bucket`). */
  name: string;
  /** The metric it belongs to: the name without a histogram `_bucket`, `_sum` or `_count` suffix. */
  base: string;
  /** Where it is used, relative to the package: `prometheus/rules/saga.yml#alert:SagaStuck`. */
  source: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown, where: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new Error(`${where}: expected a map`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`${where}.${k}: expected a string`);
    out[k] = String(v);
  }
  return out;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
}

/** Every recording and alerting rule of the rule files in `dir`, in file order. */
export function loadRules(dir: string = rulesDir): Rule[] {
  const rules: Rule[] = [];
  for (const path of yamlFiles(dir)) {
    const file = relative(packageDir, path);
    const doc: unknown = parse(readFileSync(path, 'utf8'));
    if (!isRecord(doc) || !Array.isArray(doc.groups)) throw new Error(`${file}: no groups`);
    for (const group of doc.groups as unknown[]) {
      if (!isRecord(group) || typeof group.name !== 'string' || !Array.isArray(group.rules)) {
        throw new Error(`${file}: malformed group`);
      }
      for (const raw of group.rules as unknown[]) {
        if (!isRecord(raw) || typeof raw.expr !== 'string')
          throw new Error(`${file}/${group.name}: rule without expr`);
        const rule: Rule = {
          file,
          group: group.name,
          expr: raw.expr,
          labels: stringMap(raw.labels, `${file}/${group.name}.labels`),
          annotations: stringMap(raw.annotations, `${file}/${group.name}.annotations`),
        };
        if (typeof raw.alert === 'string') rule.alert = raw.alert;
        if (typeof raw.record === 'string') rule.record = raw.record;
        if (typeof raw.for === 'string') rule.for = raw.for;
        if (rule.alert === undefined && rule.record === undefined)
          throw new Error(`${file}: rule is neither alert nor record`);
        rules.push(rule);
      }
    }
  }
  return rules;
}

function collectPanelQueries(file: string, dashboard: string, panels: unknown, out: DashboardQuery[]): void {
  if (!Array.isArray(panels)) return;
  for (const panel of panels as unknown[]) {
    if (!isRecord(panel)) continue;
    const title = typeof panel.title === 'string' ? panel.title : '(untitled)';
    if (Array.isArray(panel.targets)) {
      for (const target of panel.targets as unknown[]) {
        if (isRecord(target) && typeof target.expr === 'string' && target.expr.trim() !== '') {
          out.push({ file, dashboard, panel: title, expr: target.expr });
        }
      }
    }
    // collapsed rows keep their panels inside the row
    collectPanelQueries(file, dashboard, panel.panels, out);
  }
}

/** Parsed dashboard JSON files of `dir`, keyed by path relative to the package. */
export function loadDashboards(
  dir: string = dashboardsDir,
): { file: string; json: Record<string, unknown> }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const file = relative(packageDir, join(dir, f));
      const json: unknown = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (!isRecord(json)) throw new Error(`${file}: not a JSON object`);
      return { file, json };
    });
}

/** Every PromQL query of every panel of the dashboards in `dir`. */
export function dashboardQueries(dir: string = dashboardsDir): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const { file, json } of loadDashboards(dir)) {
    const title = typeof json.title === 'string' ? json.title : file;
    collectPanelQueries(file, title, json.panels, out);
  }
  return out;
}

/**
 * Metrics that only a Kubernetes cluster exports, never the services: Istio's sidecars (`istio_*`) and istiod
 * (`pilot_*`), kube-state-metrics (`kube_*`) and the kubelet's cAdvisor (`container_*`). The mesh rules and
 * dashboard (rules/mesh.yml, mesh.json) use them.
 */
export const CLUSTER_METRIC_PREFIXES = ['istio_', 'pilot_', 'kube_', 'container_'] as const;

export const isClusterMetric = (name: string): boolean =>
  CLUSTER_METRIC_PREFIXES.some((prefix) => name.startsWith(prefix));

/**
 * Every metric name that an alert, a recording rule or a dashboard query selects, with where it is used. Names of
 * the recording rules themselves and series made by Prometheus (`up`, `ALERTS`, `scrape_*`) are left out, and so are
 * the cluster's own metrics (CLUSTER_METRIC_PREFIXES) unless `cluster` is true: what remains by default must be
 * exported by the running services.
 */
export function metricNamesUsed(
  options: { rulesDir?: string; dashboardsDir?: string; cluster?: boolean } = {},
): MetricUse[] {
  const rules = loadRules(options.rulesDir ?? rulesDir);
  const recorded = new Set(rules.flatMap((r) => (r.record === undefined ? [] : [r.record])));
  const uses = new Map<string, MetricUse>();
  const add = (expr: string, source: string): void => {
    for (const name of extractMetricNames(expr)) {
      if (recorded.has(name) || SYNTHETIC_SERIES.has(name)) continue;
      if (options.cluster !== true && isClusterMetric(name)) continue;
      uses.set(`${name}\u0000${source}`, { name, base: baseMetricName(name), source });
    }
  };
  for (const rule of rules) {
    const kind = rule.alert !== undefined ? `alert:${rule.alert}` : `record:${rule.record ?? ''}`;
    const slo = rule.labels.slo !== undefined ? `{slo=${rule.labels.slo}}` : '';
    add(rule.expr, `${rule.file}#${kind}${slo}`);
  }
  for (const q of dashboardQueries(options.dashboardsDir ?? dashboardsDir)) {
    add(q.expr, `${q.file}#${q.panel}`);
  }
  return [...uses.values()].sort((a, b) => a.name.localeCompare(b.name) || a.source.localeCompare(b.source));
}
