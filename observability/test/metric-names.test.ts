import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isClusterMetric, metricNamesUsed, repoRoot } from '../src/index';

describe('metricNamesUsed', () => {
  it('collects names from alerts, recording rules and dashboard panels, minus recordings and Prometheus series', () => {
    const dir = mkdtempSync(join(tmpdir(), 'obs-names-'));
    const rules = join(dir, 'rules');
    const dashboards = join(dir, 'dashboards');
    mkdirSync(rules);
    mkdirSync(dashboards);
    writeFileSync(
      join(rules, 'a.yml'),
      [
        'groups:',
        '  - name: g',
        '    rules:',
        '      - record: job:foo_requests:rate5m',
        '        expr: sum by (job) (rate(foo_requests_total{code="500"}[5m]))',
        '      - alert: FooDown',
        '        expr: job:foo_requests:rate5m > 1 or up{job="foo"} == 0 or absent(foo_info)',
        '        labels: { severity: page }',
      ].join('\n'),
    );
    writeFileSync(
      join(dashboards, 'd.json'),
      JSON.stringify({
        title: 'D',
        panels: [
          {
            type: 'row',
            title: 'collapsed',
            panels: [{ title: 'inner', targets: [{ expr: 'bar_seconds_bucket{le="1"}' }] }],
          },
          {
            title: 'outer',
            targets: [{ expr: 'sum(rate(bar_seconds_count[$__rate_interval]))' }, { expr: '' }],
          },
          { title: 'alerts', targets: [{ expr: 'ALERTS{alertstate="firing"}' }] },
        ],
      }),
    );
    const uses = metricNamesUsed({ rulesDir: rules, dashboardsDir: dashboards });
    const pairs = uses.map((u) => `${u.name} ${u.base} ${u.source.replace(/^.*\/(rules|dashboards)\//, '')}`);
    assert.deepEqual(pairs, [
      'bar_seconds_bucket bar_seconds d.json#inner',
      'bar_seconds_count bar_seconds d.json#outer',
      'foo_info foo_info a.yml#alert:FooDown',
      'foo_requests_total foo_requests_total a.yml#record:job:foo_requests:rate5m',
    ]);
  });

  it('on the real rules and dashboards: finds the saga, messaging, HTTP and gRPC metrics and never a recording', () => {
    const names = new Set(metricNamesUsed().map((u) => u.name));
    for (const expected of [
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'grpc_server_handled_total',
      'saga_completed_total',
      'saga_overdue',
      'messages_consumed_total',
      'kafka_consumer_lag',
      'db_pool_clients_waiting',
    ]) {
      assert.ok(names.has(expected), expected);
    }
    for (const name of names) {
      assert.doesNotMatch(name, /:/, `${name} looks like a recording rule`);
      assert.notEqual(name, 'up');
    }
  });

  it("leaves the cluster's metrics out by default (the services never export them), and finds them on request", () => {
    const own = new Set(metricNamesUsed().map((u) => u.name));
    for (const name of own) assert.ok(!isClusterMetric(name), `${name} is a cluster metric`);
    const all = new Set(metricNamesUsed({ cluster: true }).map((u) => u.name));
    for (const expected of [
      'istio_requests_total',
      'istio_request_duration_milliseconds_bucket',
      'kube_pod_container_status_restarts_total',
      'kube_pod_container_status_last_terminated_reason',
      'container_cpu_cfs_throttled_periods_total',
      'container_cpu_cfs_periods_total',
      'pilot_xds_pushes',
    ]) {
      assert.ok(all.has(expected), expected);
      assert.ok(!own.has(expected), expected);
    }
  });

  it('every metric used is listed in the catalog docs/metrics.md', () => {
    const catalog = readFileSync(join(repoRoot, 'docs', 'metrics.md'), 'utf8');
    const documented = new Set([...catalog.matchAll(/^\|\s*`([a-z_:][a-z0-9_:]*)`/gm)].map((m) => m[1]));
    const missing = [...new Set(metricNamesUsed({ cluster: true }).map((u) => u.base))].filter(
      (n) => !documented.has(n),
    );
    assert.deepEqual(
      missing,
      [],
      `metrics used by rules or dashboards but absent from docs/metrics.md: ${missing.join(', ')}`,
    );
  });
});
