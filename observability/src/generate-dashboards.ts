// Writes the dashboards of src/dashboards.ts to grafana/dashboards/ (run by `npm run generate`, which then
// formats them with Prettier).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDashboards } from './dashboards';
import { dashboardsDir } from './index';

for (const [file, dashboard] of Object.entries(buildDashboards())) {
  writeFileSync(join(dashboardsDir, file), `${JSON.stringify(dashboard, null, 2)}\n`);
  process.stdout.write(`wrote grafana/dashboards/${file}\n`);
}
