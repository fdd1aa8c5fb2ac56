import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildDashboards } from '../src/dashboards';
import { dashboardQueries, dashboardsDir, loadDashboards } from '../src/index';
import { promtool, requirePromtool } from './promtool';

interface PanelLike {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  datasource?: { uid?: unknown };
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: { expr?: unknown; datasource?: { uid?: unknown } }[];
  panels?: PanelLike[];
}

function allPanels(panels: PanelLike[]): PanelLike[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

describe('Grafana dashboards', () => {
  const dashboards = loadDashboards();

  it('are the five expected dashboards with unique uids', () => {
    assert.deepEqual(
      dashboards.map((d) => d.file),
      [
        'grafana/dashboards/mesh.json',
        'grafana/dashboards/messaging.json',
        'grafana/dashboards/platform-overview.json',
        'grafana/dashboards/saga.json',
        'grafana/dashboards/slo.json',
      ],
    );
    const uids = dashboards.map((d) => d.json.uid);
    assert.equal(new Set(uids).size, uids.length);
  });

  it('match what src/dashboards.ts generates (run `npm run generate` after editing it)', () => {
    for (const [file, dashboard] of Object.entries(buildDashboards())) {
      const committed: unknown = JSON.parse(readFileSync(join(dashboardsDir, file), 'utf8'));
      assert.deepEqual(committed, JSON.parse(JSON.stringify(dashboard)), `${file} is stale`);
    }
  });

  for (const { file, json } of dashboards) {
    it(`${file}: a datasource variable, and every panel queries it with at least one expr`, () => {
      const templating = json.templating as { list: { name: string; type: string; query: string }[] };
      assert.ok(
        templating.list.some(
          (v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus',
        ),
      );
      const panels = allPanels(json.panels as PanelLike[]);
      assert.ok(panels.length > 3, 'dashboard has panels');
      const ids = panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
      for (const panel of panels) {
        const title = String(panel.title);
        const pos = panel.gridPos;
        assert.ok(
          pos !== undefined && pos.x >= 0 && pos.w > 0 && pos.x + pos.w <= 24,
          `${title}: gridPos within 24 columns`,
        );
        if (panel.type === 'row') continue;
        assert.equal(panel.datasource?.uid, '${datasource}', `${title}: panel datasource`);
        const exprs = (panel.targets ?? []).filter((t) => typeof t.expr === 'string' && t.expr.trim() !== '');
        assert.ok(exprs.length > 0, `${title}: no target with an expr`);
        for (const t of panel.targets ?? [])
          assert.equal(t.datasource?.uid, '${datasource}', `${title}: target datasource`);
      }
    });
  }

  it('every query is valid PromQL (checked by promtool with Grafana variables substituted)', async () => {
    requirePromtool();
    const queries = dashboardQueries();
    const lines = ['groups:', '  - name: dashboard-queries', '    rules:'];
    queries.forEach((q, i) => {
      const expr = q.expr
        .replaceAll('$__rate_interval', '5m')
        .replaceAll('$__range', '1h')
        .replaceAll('$service', 'orders|inventory');
      lines.push(`      - record: dashboard:query:${i}`, `        expr: ${JSON.stringify(expr)}`);
    });
    const file = join(mkdtempSync(join(tmpdir(), 'obs-dash-')), 'queries.yml');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const result = await promtool(['check', 'rules', file], tmpdir());
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, new RegExp(`SUCCESS: ${queries.length} rules found`));
  });
});
