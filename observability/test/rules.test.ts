import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import {
  loadRules,
  packageDir,
  prometheusLocalConfig,
  promtoolTestsDir,
  repoRoot,
  rulesDir,
} from '../src/index';
import { promtool, requirePromtool } from './promtool';

const SLO_WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d'];
const SEVERITIES = new Set(['page', 'ticket', 'info']);

interface AlertCase {
  file: string;
  alertname: string;
  firing: boolean;
}

function promtoolTestFiles(): string[] {
  return readdirSync(promtoolTestsDir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => join(promtoolTestsDir, f));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every alert_rule_test of the promtool test files: which alert, and whether any alert is expected to fire. */
function alertCases(): { cases: AlertCase[]; ruleFiles: Set<string> } {
  const cases: AlertCase[] = [];
  const ruleFiles = new Set<string>();
  for (const path of promtoolTestFiles()) {
    const doc: unknown = parse(readFileSync(path, 'utf8'));
    assert.ok(
      isRecord(doc) && Array.isArray(doc.tests) && Array.isArray(doc.rule_files),
      `${path}: not a promtool test file`,
    );
    for (const rf of doc.rule_files as unknown[]) ruleFiles.add(resolve(dirname(path), String(rf)));
    for (const group of doc.tests as unknown[]) {
      if (!isRecord(group) || !Array.isArray(group.alert_rule_test)) continue;
      for (const t of group.alert_rule_test as unknown[]) {
        assert.ok(
          isRecord(t) && typeof t.alertname === 'string',
          `${path}: alert_rule_test without alertname`,
        );
        const expected = t.exp_alerts;
        cases.push({
          file: basename(path),
          alertname: t.alertname,
          firing: Array.isArray(expected) && expected.length > 0,
        });
      }
    }
  }
  return { cases, ruleFiles };
}

describe('alert rules metadata', () => {
  const rules = loadRules();
  const alerts = rules.filter((r) => r.alert !== undefined);

  it('has the expected alerts', () => {
    assert.deepEqual(alerts.map((a) => a.alert).sort(), [
      'ContainerCpuThrottled',
      'ContainerOomKilled',
      'DatabasePoolSaturated',
      'ErrorBudgetBurnFast',
      'ErrorBudgetBurnSlow',
      'GatewayHighErrorRate',
      'IstiodDown',
      'KafkaConsumerLagHigh',
      'MeshGrpcErrorRate',
      'MeshHighErrorRate',
      'MeshProxyFailures',
      'MessagesDeadLettered',
      'OutboxBacklogAging',
      'OutboxPublishFailing',
      'PodRestartingOften',
      'SagaCompensationFailuresParked',
      'SagaStuck',
      'ServiceDown',
    ]);
  });

  for (const alert of alerts) {
    const name = alert.alert ?? '';
    it(`${name}: severity, summary, description and an existing runbook with every section`, () => {
      assert.ok(
        SEVERITIES.has(alert.labels.severity ?? ''),
        `${name}: severity must be page, ticket or info`,
      );
      assert.ok((alert.annotations.summary ?? '').length > 10, `${name}: summary missing`);
      assert.ok((alert.annotations.description ?? '').length > 10, `${name}: description missing`);
      assert.equal(alert.annotations.runbook_url, `docs/runbooks/${name}.md`);
      const runbook = join(repoRoot, alert.annotations.runbook_url ?? '');
      assert.ok(existsSync(runbook), `${name}: runbook ${runbook} does not exist`);
      const text = readFileSync(runbook, 'utf8');
      for (const section of ['## Meaning', '## Impact', '## Diagnosis', '## Mitigation', '## Related']) {
        assert.ok(text.includes(section), `${name}: runbook lacks "${section}"`);
      }
      assert.ok(text.includes(`# ${name}`), `${name}: runbook title must be the alert name`);
    });
  }

  it('no label value in an alert or recording rule is an id (bounded labels only)', () => {
    for (const rule of rules) {
      for (const [k, v] of Object.entries(rule.labels)) {
        assert.doesNotMatch(v, /\{\{/, `${rule.alert ?? rule.record}: label ${k} is templated`);
      }
    }
  });

  it('every SLO records its objective and its error ratio over every burn-rate window', () => {
    const slos = new Set(rules.filter((r) => r.record === 'slo:objective:ratio').map((r) => r.labels.slo));
    assert.deepEqual([...slos].sort(), [
      'api-availability',
      'api-errors',
      'api-latency',
      'saga-in-time',
      'saga-latency',
    ]);
    for (const slo of slos) {
      for (const w of SLO_WINDOWS) {
        const found = rules.filter(
          (r) => r.record === `slo:sli_error:ratio_rate${w}` && r.labels.slo === slo,
        );
        assert.equal(found.length, 1, `${slo}: slo:sli_error:ratio_rate${w}`);
      }
    }
    for (const w of SLO_WINDOWS) {
      assert.ok(
        rules.some((r) => r.record === `slo:burn_rate:rate${w}`),
        `slo:burn_rate:rate${w}`,
      );
    }
  });
});

describe('promtool unit tests cover every alert', () => {
  it('every alert has a promtool case where it fires and one where it stays silent', () => {
    const { cases } = alertCases();
    const alerts = loadRules().flatMap((r) => (r.alert === undefined ? [] : [r.alert]));
    const problems: string[] = [];
    for (const alert of new Set(alerts)) {
      if (!cases.some((c) => c.alertname === alert && c.firing)) problems.push(`${alert}: no firing case`);
      if (!cases.some((c) => c.alertname === alert && !c.firing)) problems.push(`${alert}: no silent case`);
    }
    for (const c of cases) {
      if (!alerts.includes(c.alertname)) problems.push(`${c.file}: tests unknown alert ${c.alertname}`);
    }
    assert.deepEqual(problems, []);
  });

  it('every rule file is loaded by at least one promtool test file', () => {
    const { ruleFiles } = alertCases();
    for (const f of readdirSync(rulesDir).filter((n) => n.endsWith('.yml'))) {
      assert.ok(ruleFiles.has(join(rulesDir, f)), `rules/${f} is not under test`);
    }
  });
});

describe('prometheus.local.yml', () => {
  it('scrapes every service on loopback under a job named after it and loads the rule files', () => {
    const doc: unknown = parse(readFileSync(prometheusLocalConfig, 'utf8'));
    assert.ok(isRecord(doc) && Array.isArray(doc.scrape_configs) && Array.isArray(doc.rule_files));
    const jobs = Object.fromEntries(
      (
        doc.scrape_configs as {
          job_name: string;
          metrics_path?: string;
          static_configs: { targets: string[] }[];
        }[]
      ).map((c) => [
        c.job_name,
        `${c.static_configs.flatMap((s) => s.targets).join(',')}${c.metrics_path ?? '/metrics'}`,
      ]),
    );
    assert.deepEqual(jobs, {
      gateway: '127.0.0.1:8080/metrics',
      orders: '127.0.0.1:9101/metrics',
      inventory: '127.0.0.1:9102/metrics',
      payments: '127.0.0.1:9103/metrics',
    });
    assert.deepEqual(doc.rule_files, ['rules/*.yml']);
  });
});

describe('promtool', { concurrency: true }, () => {
  before(() => requirePromtool());

  it('check rules', async () => {
    const files = readdirSync(rulesDir)
      .filter((f) => f.endsWith('.yml'))
      .map((f) => join('prometheus', 'rules', f));
    const result = await promtool(['check', 'rules', ...files], packageDir);
    assert.equal(result.code, 0, result.output);
  });

  it('check config prometheus.local.yml (with its rule files)', async () => {
    const result = await promtool(['check', 'config', prometheusLocalConfig], packageDir);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /SUCCESS: \d+ rule files found/);
  });

  for (const path of promtoolTestFiles()) {
    it(`test rules ${basename(path)}`, async () => {
      const result = await promtool(['test', 'rules', path], promtoolTestsDir);
      assert.equal(result.code, 0, result.output);
      assert.match(result.output, /SUCCESS/);
    });
  }
});
