// The cluster's Prometheus (kube-prometheus-stack, k8s/observability/kube-prometheus-stack-values.yaml): the jobs
// that the mesh rules and dashboard depend on, checked by promtool as a real Prometheus configuration.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { loadRules, repoRoot } from '../src/index';
import { promtool, requirePromtool } from './promtool';

interface Relabel {
  source_labels?: string[];
  target_label?: string;
  action?: string;
  regex?: string;
  replacement?: string;
}
interface ScrapeConfig {
  job_name: string;
  kubernetes_sd_configs?: { role: string; namespaces?: { names: string[] } }[];
  relabel_configs?: Relabel[];
}

const valuesFile = join(repoRoot, 'k8s', 'observability', 'kube-prometheus-stack-values.yaml');

function scrapeConfigs(): ScrapeConfig[] {
  const doc = parse(readFileSync(valuesFile, 'utf8')) as {
    prometheus: { prometheusSpec: { additionalScrapeConfigs: ScrapeConfig[] } };
  };
  return doc.prometheus.prometheusSpec.additionalScrapeConfigs;
}

/** Prometheus' relabelling of one target (keep, drop and replace with the default separator and `$1`). */
function relabel(labels: Record<string, string>, rules: Relabel[]): Record<string, string> | undefined {
  const out = { ...labels };
  for (const r of rules) {
    const value = (r.source_labels ?? []).map((l) => out[l] ?? '').join(';');
    const re = new RegExp(`^(?:${r.regex ?? '(.*)'})$`);
    const action = r.action ?? 'replace';
    if (action === 'keep' && !re.test(value)) return undefined;
    if (action === 'drop' && re.test(value)) return undefined;
    if (action === 'replace' && r.target_label && re.test(value)) {
      out[r.target_label] = value.replace(re, r.replacement ?? '$1');
    }
  }
  return out;
}

void describe('cluster scrape configuration', () => {
  void it('scrapes istiod on its monitoring port through the endpoints of its Service, and only that port', () => {
    const job = scrapeConfigs().find((c) => c.job_name === 'istiod');
    assert.ok(job, 'a scrape job named istiod (the IstiodDown alert reads up{job="istiod"})');
    assert.deepEqual(job.kubernetes_sd_configs, [
      { role: 'endpoints', namespaces: { names: ['istio-system'] } },
    ]);
    const target = (service: string, port: string) =>
      relabel(
        {
          __meta_kubernetes_service_name: service,
          __meta_kubernetes_endpoint_port_name: port,
          __meta_kubernetes_pod_name: 'istiod-5f4d-abc',
        },
        job.relabel_configs ?? [],
      );
    assert.equal(target('istiod', 'http-monitoring')?.pod, 'istiod-5f4d-abc');
    assert.equal(target('istiod', 'grpc-xds'), undefined);
    assert.equal(target('istio-ingressgateway', 'http-monitoring'), undefined);
  });

  void it('labels the shop pods (and their merged sidecar metrics) with job, track and version', () => {
    const job = scrapeConfigs().find((c) => c.job_name === 'shop-pods');
    assert.ok(job);
    const labels = relabel(
      {
        __address__: '10.244.1.7:8080',
        __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true',
        __meta_kubernetes_pod_annotation_prometheus_io_port: '15020',
        __meta_kubernetes_pod_annotation_prometheus_io_path: '/stats/prometheus',
        __meta_kubernetes_pod_label_app: 'orders',
        __meta_kubernetes_pod_label_version: '0.1.0-canary',
        __meta_kubernetes_pod_label_track: 'canary',
        __meta_kubernetes_pod_name: 'orders-canary-1',
      },
      job.relabel_configs ?? [],
    );
    assert.ok(labels);
    assert.equal(labels.__address__, '10.244.1.7:15020');
    assert.equal(labels.__metrics_path__, '/stats/prometheus');
    assert.equal(labels.job, 'orders');
    assert.equal(labels.track, 'canary');
    assert.equal(labels.version, '0.1.0-canary');
    // The mesh alerts group by the scrape's track label; a rename here would silence them.
    const mesh = loadRules().filter(
      (r) => r.file.endsWith('mesh.yml') && r.expr.includes('reporter="destination"'),
    );
    assert.ok(mesh.length >= 2);
    for (const r of mesh) assert.match(r.expr, /by \(destination_workload, track\)/, r.alert);
  });

  void it('promtool accepts the scrape jobs and their relabelling as a Prometheus configuration', async () => {
    requirePromtool();
    const dir = mkdtempSync(join(tmpdir(), 'obs-cluster-'));
    const file = join(dir, 'prometheus.yml');
    // Debian's promtool is built without Kubernetes service discovery, so the jobs are checked with a static target
    // in place of kubernetes_sd_configs (the discovery block itself is asserted above).
    const jobs = scrapeConfigs().map(({ kubernetes_sd_configs: _sd, ...job }) => ({
      ...job,
      static_configs: [{ targets: ['127.0.0.1:9'] }],
    }));
    writeFileSync(file, stringify({ global: { scrape_interval: '30s' }, scrape_configs: jobs }));
    const result = await promtool(['check', 'config', file], dir);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /SUCCESS/);
  });
});
