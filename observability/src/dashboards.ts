// Grafana dashboards as code. `npm run generate` writes them to grafana/dashboards/*.json; a test fails when the
// committed JSON differs from what this file produces. Every panel queries the data source chosen in the
// `datasource` variable, so the files work both when imported and when provisioned.

const DS = { type: 'prometheus', uid: '${datasource}' } as const;
const RI = '$__rate_interval';
/** Probe and scrape routes of the gateway are not user traffic (same exclusion as the SLO rules). */
const API = 'service="gateway",route!~"/livez|/readyz|/metrics"';
/** gRPC codes that mean the server failed, as opposed to rejecting a bad request. */
const GRPC_SERVER_ERRORS =
  'UNKNOWN|DEADLINE_EXCEEDED|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS|RESOURCE_EXHAUSTED';

export interface Target {
  datasource: typeof DS;
  expr: string;
  legendFormat: string;
  refId: string;
  instant?: boolean;
  range?: boolean;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: typeof DS;
  gridPos: { h: number; w: number; x: number; y: number };
  collapsed?: boolean;
  panels?: Panel[];
  fieldConfig?: unknown;
  options?: unknown;
  targets?: Target[];
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  timezone: string;
  editable: boolean;
  graphTooltip: number;
  schemaVersion: number;
  version: number;
  refresh: string;
  time: { from: string; to: string };
  annotations: { list: unknown[] };
  links: unknown[];
  templating: { list: unknown[] };
  panels: Panel[];
}

type Query = [expr: string, legend: string];

interface PanelSpec {
  title: string;
  description: string;
  queries: Query[];
  unit?: string;
  /** Width in grid columns (24 per row); default 12. */
  w?: number;
  h?: number;
  kind?: 'timeseries' | 'stat' | 'bargauge';
  /** A red threshold (a line on time series, a colour on stats). */
  threshold?: number;
  min?: number;
  max?: number;
  /** Instant query over the dashboard range (stats and bar gauges of `increase(...[$__range])`). */
  instant?: boolean;
}

type Item = PanelSpec | { row: string };

function thresholds(threshold: number | undefined): unknown {
  const steps: { color: string; value: number | null }[] = [{ color: 'green', value: null }];
  if (threshold !== undefined) steps.push({ color: 'red', value: threshold });
  return { mode: 'absolute', steps };
}

function panel(spec: PanelSpec, id: number, x: number, y: number): Panel {
  const kind = spec.kind ?? 'timeseries';
  const defaults: Record<string, unknown> = {
    unit: spec.unit ?? 'short',
    thresholds: thresholds(spec.threshold),
  };
  if (spec.min !== undefined) defaults.min = spec.min;
  if (spec.max !== undefined) defaults.max = spec.max;
  if (kind === 'timeseries') {
    defaults.custom = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: 10,
      showPoints: 'never',
      spanNulls: true,
      thresholdsStyle: { mode: spec.threshold === undefined ? 'off' : 'line+area' },
    };
  }
  const options =
    kind === 'timeseries'
      ? {
          legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
          tooltip: { mode: 'multi', sort: 'desc' },
        }
      : kind === 'stat'
        ? {
            reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
            colorMode: 'value',
            graphMode: 'area',
            textMode: 'auto',
          }
        : {
            reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
            orientation: 'horizontal',
            displayMode: 'gradient',
          };
  return {
    id,
    type: kind,
    title: spec.title,
    description: spec.description,
    datasource: DS,
    gridPos: { h: spec.h ?? 8, w: spec.w ?? 12, x, y },
    fieldConfig: { defaults, overrides: [] },
    options,
    targets: spec.queries.map(([expr, legendFormat], i) => {
      const target: Target = { datasource: DS, expr, legendFormat, refId: String.fromCharCode(65 + i) };
      if (spec.instant === true) {
        target.instant = true;
        target.range = false;
      }
      return target;
    }),
  };
}

/** Lays panels out left to right, wrapping at 24 columns; a row header starts a new line. */
function layout(items: Item[]): Panel[] {
  const panels: Panel[] = [];
  let id = 1;
  let x = 0;
  let y = 0;
  let lineHeight = 0;
  for (const item of items) {
    if ('row' in item) {
      if (x > 0) y += lineHeight;
      panels.push({
        id: id++,
        type: 'row',
        title: item.row,
        collapsed: false,
        panels: [],
        gridPos: { h: 1, w: 24, x: 0, y },
      });
      y += 1;
      x = 0;
      lineHeight = 0;
      continue;
    }
    const w = item.w ?? 12;
    const h = item.h ?? 8;
    if (x + w > 24) {
      y += lineHeight;
      x = 0;
      lineHeight = 0;
    }
    panels.push(panel(item, id++, x, y));
    x += w;
    lineHeight = Math.max(lineHeight, h);
  }
  return panels;
}

function datasourceVariable(): unknown {
  return {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    refresh: 1,
    regex: '',
    options: [],
  };
}

function serviceVariable(services: string[]): unknown {
  return {
    name: 'service',
    label: 'Service',
    type: 'custom',
    query: services.join(','),
    multi: true,
    includeAll: true,
    allValue: services.join('|'),
    current: { selected: true, text: ['All'], value: ['$__all'] },
    hide: 0,
    options: [],
  };
}

function dashboard(
  uid: string,
  title: string,
  description: string,
  variables: unknown[],
  items: Item[],
): Dashboard {
  return {
    uid,
    title,
    description,
    tags: ['shop'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    annotations: { list: [] },
    links: [
      {
        type: 'dashboards',
        tags: ['shop'],
        asDropdown: true,
        title: 'Shop dashboards',
        includeVars: false,
        keepTime: true,
      },
    ],
    templating: { list: [datasourceVariable(), ...variables] },
    panels: layout(items),
  };
}

const quantiles = (metric: string, selector: string, by: string, legendPrefix: string): Query[] =>
  ([0.5, 0.95, 0.99] as const).map((q) => [
    `histogram_quantile(${q}, sum by (${by}le) (rate(${metric}_bucket${selector === '' ? '' : `{${selector}}`}[${RI}])))`,
    `${legendPrefix}p${Math.round(q * 100)}`,
  ]);

function overview(): Dashboard {
  const svc = 'service=~"$service"';
  return dashboard(
    'shop-overview',
    'Shop / Platform overview',
    'RED signals of every service: HTTP at the gateway, gRPC server and client per service, runtime and database pool.',
    [serviceVariable(['gateway', 'orders', 'inventory', 'payments'])],
    [
      { row: 'Health' },
      {
        title: 'Targets up',
        description:
          'Scrape success per service (1 = up). ServiceDown pages when a service has no instance up.',
        queries: [['sum by (job) (up{job=~"$service"})', '{{job}}']],
        kind: 'stat',
        w: 24,
        h: 4,
      },
      { row: 'Gateway HTTP (public API)' },
      {
        title: 'Request rate by route and status',
        description: 'Requests per second at the REST edge.',
        queries: [
          [
            `sum by (route, status_code) (rate(http_requests_total{${API}}[${RI}]))`,
            '{{route}} {{status_code}}',
          ],
        ],
        unit: 'reqps',
        w: 8,
      },
      {
        title: 'Error ratio (5xx and 4xx)',
        description:
          'Share of responses with a server (5xx) or client (4xx) error. GatewayHighErrorRate pages above 5% of 5xx.',
        queries: [
          [
            `sum(rate(http_requests_total{${API},status_code=~"5.."}[${RI}])) / sum(rate(http_requests_total{${API}}[${RI}]))`,
            '5xx',
          ],
          [
            `sum(rate(http_requests_total{${API},status_code=~"4.."}[${RI}])) / sum(rate(http_requests_total{${API}}[${RI}]))`,
            '4xx',
          ],
        ],
        unit: 'percentunit',
        threshold: 0.05,
        min: 0,
        w: 8,
      },
      {
        title: 'Latency p50 / p95 / p99',
        description: 'Request duration quantiles at the gateway; the latency SLO is p95 under 300 ms.',
        queries: quantiles('http_request_duration_seconds', API, '', ''),
        unit: 's',
        threshold: 0.3,
        w: 8,
      },
      {
        title: 'p95 latency by route',
        description: 'Which route is slow.',
        queries: [
          [
            `histogram_quantile(0.95, sum by (route, le) (rate(http_request_duration_seconds_bucket{${API}}[${RI}])))`,
            '{{route}}',
          ],
        ],
        unit: 's',
        threshold: 0.3,
        w: 24,
      },
      { row: 'gRPC servers' },
      {
        title: 'gRPC request rate by service',
        description: 'Calls handled per second by each gRPC server.',
        queries: [[`sum by (service) (rate(grpc_server_handled_total{${svc}}[${RI}]))`, '{{service}}']],
        unit: 'reqps',
        w: 8,
      },
      {
        title: 'gRPC server error ratio by service',
        description: `Share of calls ending with a server-side failure code (${GRPC_SERVER_ERRORS.replaceAll('|', ', ')}).`,
        queries: [
          [
            `sum by (service) (rate(grpc_server_handled_total{${svc},grpc_code=~"${GRPC_SERVER_ERRORS}"}[${RI}])) / sum by (service) (rate(grpc_server_handled_total{${svc}}[${RI}]))`,
            '{{service}}',
          ],
        ],
        unit: 'percentunit',
        min: 0,
        w: 8,
      },
      {
        title: 'gRPC latency p95 by service',
        description: 'Server handling time, 95th percentile.',
        queries: [
          [
            `histogram_quantile(0.95, sum by (service, le) (rate(grpc_server_handling_seconds_bucket{${svc}}[${RI}])))`,
            '{{service}}',
          ],
        ],
        unit: 's',
        w: 8,
      },
      {
        title: 'Non-OK gRPC codes by method',
        description:
          'Every status other than OK, including expected rejections such as INVALID_ARGUMENT and NOT_FOUND.',
        queries: [
          [
            `sum by (service, grpc_method, grpc_code) (rate(grpc_server_handled_total{${svc},grpc_code!="OK"}[${RI}]))`,
            '{{service}} {{grpc_method}} {{grpc_code}}',
          ],
        ],
        unit: 'reqps',
      },
      {
        title: 'gRPC latency p50 / p95 / p99 (all selected services)',
        description: 'Server handling time quantiles over the selected services.',
        queries: quantiles('grpc_server_handling_seconds', svc, '', ''),
        unit: 's',
      },
      { row: 'gRPC clients (outgoing calls)' },
      {
        title: 'Outgoing call rate by callee',
        description: 'Calls per second from each service to each upstream gRPC service.',
        queries: [
          [
            `sum by (service, grpc_service) (rate(grpc_client_handled_total{${svc}}[${RI}]))`,
            '{{service}} → {{grpc_service}}',
          ],
        ],
        unit: 'reqps',
        w: 8,
      },
      {
        title: 'Outgoing call failures by code',
        description:
          'UNAVAILABLE and DEADLINE_EXCEEDED here with a healthy callee point at the network or the mesh.',
        queries: [
          [
            `sum by (service, grpc_service, grpc_code) (rate(grpc_client_handled_total{${svc},grpc_code!="OK"}[${RI}]))`,
            '{{service}} → {{grpc_service}} {{grpc_code}}',
          ],
        ],
        unit: 'reqps',
        w: 8,
      },
      {
        title: 'Outgoing call latency p95 by callee',
        description: 'Client-side duration including the network; compare with the callee server latency.',
        queries: [
          [
            `histogram_quantile(0.95, sum by (service, grpc_service, le) (rate(grpc_client_handling_seconds_bucket{${svc}}[${RI}])))`,
            '{{service}} → {{grpc_service}}',
          ],
        ],
        unit: 's',
        w: 8,
      },
      { row: 'Runtime and database' },
      {
        title: 'Event loop lag',
        description:
          'Node.js event loop lag per instance; sustained lag delays every request of the process.',
        queries: [
          [`max by (service, instance) (nodejs_eventloop_lag_seconds{${svc}})`, '{{service}} {{instance}}'],
        ],
        unit: 's',
        w: 8,
      },
      {
        title: 'CPU',
        description: 'CPU seconds per second used by each process.',
        queries: [
          [
            `sum by (service, instance) (rate(process_cpu_seconds_total{${svc}}[${RI}]))`,
            '{{service}} {{instance}}',
          ],
        ],
        unit: 'percentunit',
        w: 8,
      },
      {
        title: 'Heap used',
        description: 'V8 heap in use per process.',
        queries: [
          [`sum by (service, instance) (nodejs_heap_size_used_bytes{${svc}})`, '{{service}} {{instance}}'],
        ],
        unit: 'bytes',
        w: 8,
      },
      {
        title: 'GC time',
        description: 'Seconds per second spent in garbage collection, by kind.',
        queries: [
          [
            `sum by (service, kind) (rate(nodejs_gc_duration_seconds_sum{${svc}}[${RI}]))`,
            '{{service}} {{kind}}',
          ],
        ],
        unit: 'percentunit',
        w: 8,
      },
      {
        title: 'Database pool: in use vs max',
        description:
          'Connections in use (total minus idle) against the pool size. DatabasePoolSaturated fires at 90%.',
        queries: [
          [
            `sum by (service) (db_pool_clients_total{${svc}} - db_pool_clients_idle{${svc}})`,
            '{{service}} in use',
          ],
          [`sum by (service) (db_pool_clients_max{${svc}})`, '{{service}} max'],
        ],
        w: 8,
      },
      {
        title: 'Database pool: clients waiting',
        description:
          'Queries queued for a connection. Anything sustained above 0 means the pool is too small or queries too slow.',
        queries: [[`sum by (service) (db_pool_clients_waiting{${svc}})`, '{{service}}']],
        threshold: 1,
        w: 8,
      },
    ],
  );
}

function saga(): Dashboard {
  return dashboard(
    'shop-saga',
    'Shop / Order saga',
    'The order saga run by the orders service: throughput, outcomes, durations, steps and compensations.',
    [],
    [
      { row: 'Now' },
      {
        title: 'Sagas in flight',
        description: 'Orders between placed and a terminal state.',
        queries: [['max(saga_in_flight)', 'in flight']],
        kind: 'stat',
        w: 6,
        h: 5,
      },
      {
        title: 'Sagas overdue',
        description:
          'In flight past their step deadline; SagaStuck pages when this stays above 0 for 5 minutes.',
        queries: [['max(saga_overdue)', 'overdue']],
        kind: 'stat',
        threshold: 1,
        w: 6,
        h: 5,
      },
      {
        title: 'Compensation failures parked',
        description:
          'Compensations that failed every retry and wait for a human (SagaCompensationFailuresParked).',
        queries: [['max(saga_compensation_failures_parked)', 'parked']],
        kind: 'stat',
        threshold: 1,
        w: 6,
        h: 5,
      },
      {
        title: 'Outcomes over the time range',
        description: 'Completed sagas by outcome and reason over the selected range.',
        queries: [
          ['sum by (outcome, reason) (increase(saga_completed_total[$__range]))', '{{outcome}} {{reason}}'],
        ],
        kind: 'bargauge',
        instant: true,
        w: 6,
        h: 5,
      },
      { row: 'Throughput and outcomes' },
      {
        title: 'Started vs completed',
        description: 'Sagas started and completed per second; a growing gap means sagas pile up in flight.',
        queries: [
          [`sum(rate(saga_started_total[${RI}]))`, 'started'],
          [`sum(rate(saga_completed_total[${RI}]))`, 'completed'],
        ],
        unit: 'ops',
      },
      {
        title: 'Completed by outcome and reason',
        description:
          'approved, rejected (OUT_OF_STOCK, PAYMENT_DECLINED, TIMEOUT) and cancelled (CUSTOMER_REQUEST).',
        queries: [[`sum by (outcome, reason) (rate(saga_completed_total[${RI}]))`, '{{outcome}} {{reason}}']],
        unit: 'ops',
      },
      {
        title: 'In flight and overdue',
        description: 'Sagas in flight, and those past their deadline.',
        queries: [
          ['max(saga_in_flight)', 'in flight'],
          ['max(saga_overdue)', 'overdue'],
        ],
      },
      {
        title: 'Timeouts',
        description: 'Sagas ended by a step deadline: the bad events of the saga-in-time SLO.',
        queries: [[`sum(rate(saga_completed_total{reason="TIMEOUT"}[${RI}]))`, 'timeouts']],
        unit: 'ops',
      },
      { row: 'Durations' },
      {
        title: 'Saga duration p50 / p95 / p99',
        description: 'Placed to terminal state. The saga-latency SLO is p95 under 2 s.',
        queries: quantiles('saga_duration_seconds', '', '', ''),
        unit: 's',
        threshold: 2,
      },
      {
        title: 'Saga duration p95 by outcome',
        description: 'Rejections after a timeout take at least the step deadline.',
        queries: [
          [
            `histogram_quantile(0.95, sum by (outcome, le) (rate(saga_duration_seconds_bucket[${RI}])))`,
            '{{outcome}}',
          ],
        ],
        unit: 's',
      },
      {
        title: 'Step duration p95 by step',
        description: 'Time from a command sent to its reply handled, per saga step.',
        queries: [
          [
            `histogram_quantile(0.95, sum by (step, le) (rate(saga_step_duration_seconds_bucket[${RI}])))`,
            '{{step}}',
          ],
        ],
        unit: 's',
      },
      {
        title: 'Step results',
        description: 'Steps finished per second by step and outcome.',
        queries: [
          [`sum by (step, outcome) (rate(saga_step_duration_seconds_count[${RI}]))`, '{{step}} {{outcome}}'],
        ],
        unit: 'ops',
      },
      { row: 'Compensations' },
      {
        title: 'Compensations by step',
        description: 'Compensating actions (release stock, refund payment) started per second.',
        queries: [[`sum by (step) (rate(saga_compensations_total[${RI}]))`, '{{step}}']],
        unit: 'ops',
      },
      {
        title: 'Parked compensation failures',
        description: 'Failed compensations waiting for manual resolution.',
        queries: [['max(saga_compensation_failures_parked)', 'parked']],
        threshold: 1,
      },
    ],
  );
}

function messaging(): Dashboard {
  const svc = 'service=~"$service"';
  return dashboard(
    'shop-messaging',
    'Shop / Messaging',
    'Transactional outbox and Kafka consumers of orders, inventory and payments.',
    [serviceVariable(['orders', 'inventory', 'payments'])],
    [
      { row: 'Outbox' },
      {
        title: 'Outbox pending messages',
        description: 'Rows written but not yet published (read from each service database).',
        queries: [[`max by (service) (outbox_pending_messages{${svc}})`, '{{service}}']],
        w: 8,
      },
      {
        title: 'Oldest pending message age',
        description: 'Age of the oldest unpublished row; OutboxBacklogAging fires above 60 s for 5 minutes.',
        queries: [[`max by (service) (outbox_oldest_pending_age_seconds{${svc}})`, '{{service}}']],
        unit: 's',
        threshold: 60,
        w: 8,
      },
      {
        title: 'Published vs failed publishes',
        description: 'Messages the relay published and publish attempts that failed, per topic.',
        queries: [
          [
            `sum by (service, topic) (rate(outbox_published_total{${svc}}[${RI}]))`,
            '{{service}} {{topic}} published',
          ],
          [
            `sum by (service, topic) (rate(outbox_publish_failures_total{${svc}}[${RI}]))`,
            '{{service}} {{topic}} failed',
          ],
        ],
        unit: 'ops',
        w: 8,
      },
      { row: 'Consumers' },
      {
        title: 'Consumed by outcome',
        description:
          'processed, duplicate (redelivery recognised by message id) and dead_lettered, per topic.',
        queries: [
          [
            `sum by (service, topic, outcome) (rate(messages_consumed_total{${svc}}[${RI}]))`,
            '{{service}} {{topic}} {{outcome}}',
          ],
        ],
        unit: 'ops',
      },
      {
        title: 'Dead-lettered over the time range',
        description: 'Messages sent to <topic>.dlt in the selected range (MessagesDeadLettered).',
        queries: [
          [
            `sum by (service, topic) (increase(messages_consumed_total{${svc},outcome="dead_lettered"}[$__range]))`,
            '{{service}} {{topic}}',
          ],
        ],
        kind: 'bargauge',
        instant: true,
        threshold: 1,
      },
      {
        title: 'Consumer lag by topic',
        description:
          'Unconsumed messages per topic (max per partition across replicas, summed). KafkaConsumerLagHigh fires above 1000.',
        queries: [
          [
            `sum by (service, topic) (max by (service, topic, partition) (kafka_consumer_lag{${svc}}))`,
            '{{service}} {{topic}}',
          ],
        ],
        threshold: 1000,
      },
      {
        title: 'Consumer lag by partition',
        description: 'A single lagging partition points at one hot key or a stuck consumer.',
        queries: [
          [
            `max by (service, topic, partition) (kafka_consumer_lag{${svc}})`,
            '{{service}} {{topic}}[{{partition}}]',
          ],
        ],
      },
    ],
  );
}

function slo(): Dashboard {
  const sloStat = (title: string, description: string, expr: string, threshold?: number): PanelSpec => ({
    title,
    description,
    queries: [[expr, '{{slo}}']],
    kind: 'stat',
    unit: 'percentunit',
    w: 12,
    h: 6,
    ...(threshold === undefined ? {} : { threshold }),
  });
  return dashboard(
    'shop-slo',
    'Shop / SLOs and error budgets',
    'The five SLOs of docs/slo.md: attainment over 30 days, error budget left, burn rates per alert window.',
    [],
    [
      { row: 'Error budgets (30 days)' },
      sloStat(
        'Error budget remaining',
        'Share of the 30-day error budget not yet spent (1 - burn rate over 30 days); below 0 the SLO is missed.',
        'slo:error_budget_remaining:ratio',
      ),
      sloStat(
        'SLI over 30 days',
        'Good events over all events in the last 30 days, per SLO.',
        '1 - slo:sli_error:ratio_rate30d',
      ),
      { row: 'Burn rates' },
      {
        title: 'Burn rate, page windows (1h and 6h)',
        description: 'ErrorBudgetBurnFast pages above 14.4 (1h with 5m) or 6 (6h with 30m).',
        queries: [
          ['slo:burn_rate:rate1h', '{{slo}} 1h'],
          ['slo:burn_rate:rate6h', '{{slo}} 6h'],
        ],
        threshold: 6,
      },
      {
        title: 'Burn rate, ticket windows (1d and 3d)',
        description: 'ErrorBudgetBurnSlow opens a ticket above 3 (1d with 2h) or 1 (3d with 6h).',
        queries: [
          ['slo:burn_rate:rate1d', '{{slo}} 1d'],
          ['slo:burn_rate:rate3d', '{{slo}} 3d'],
        ],
        threshold: 1,
      },
      {
        title: 'Error ratio (5m) vs budget',
        description: 'Short-window error ratio of every SLO next to its budget (1 - objective).',
        queries: [
          ['slo:sli_error:ratio_rate5m', '{{slo}} error ratio'],
          ['slo:error_budget:ratio', '{{slo}} budget'],
        ],
        unit: 'percentunit',
      },
      {
        title: 'SLO alerts firing',
        description: 'Burn-rate alerts currently pending or firing.',
        queries: [
          [
            'sum by (alertname, slo, alertstate) (ALERTS{alertname=~"ErrorBudgetBurn.*"})',
            '{{alertname}} {{slo}} {{alertstate}}',
          ],
        ],
      },
      { row: 'Raw indicators' },
      {
        title: 'Gateway p95 latency vs 300 ms',
        description: 'The api-latency SLI read directly from the histogram.',
        queries: [
          [
            `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{${API}}[${RI}])))`,
            'p95',
          ],
        ],
        unit: 's',
        threshold: 0.3,
        w: 8,
      },
      {
        title: 'Gateway 5xx ratio vs 0.5%',
        description: 'The api-errors SLI read directly from the counters.',
        queries: [
          [
            `sum(rate(http_requests_total{${API},status_code=~"5.."}[${RI}])) / sum(rate(http_requests_total{${API}}[${RI}]))`,
            '5xx ratio',
          ],
        ],
        unit: 'percentunit',
        threshold: 0.005,
        w: 8,
      },
      {
        title: 'Saga p95 duration vs 2 s',
        description: 'The saga-latency SLI read directly from the histogram.',
        queries: [
          [`histogram_quantile(0.95, sum by (le) (rate(saga_duration_seconds_bucket[${RI}])))`, 'p95'],
        ],
        unit: 's',
        threshold: 2,
        w: 8,
      },
    ],
  );
}

function mesh(): Dashboard {
  // Requests counted once, by the serving pod's sidecar; the scrape adds that pod's track (stable or canary).
  const dst = 'reporter="destination",destination_service_name=~"$service"';
  const src = 'reporter="source",destination_service_name=~"$service"';
  const pods = 'namespace=~"shop|istio-system"';
  return dashboard(
    'shop-mesh',
    'Shop / Mesh and cluster',
    'Kubernetes with Istio: requests as the sidecars see them (istio_requests_total by response code, response flags and gRPC status, per track), Envoy-made failures, pod restarts, CPU throttling, OOM kills and istiod. Empty under npm start.',
    [serviceVariable(['gateway', 'orders', 'inventory', 'payments'])],
    [
      { row: 'Requests (served, per track)' },
      {
        title: 'Request rate by service and track',
        description: 'Requests served, as the serving pod\'s sidecar counts them (reporter="destination").',
        queries: [
          [
            `sum by (destination_service_name, track) (rate(istio_requests_total{${dst}}[${RI}]))`,
            '{{destination_service_name}} {{track}}',
          ],
        ],
        unit: 'reqps',
        w: 8,
      },
      {
        title: 'Responses by code',
        description: 'HTTP response codes (gRPC calls are 200 whatever their status: see the gRPC panels).',
        queries: [
          [
            `sum by (destination_service_name, response_code) (rate(istio_requests_total{${dst}}[${RI}]))`,
            '{{destination_service_name}} {{response_code}}',
          ],
        ],
        unit: 'reqps',
        w: 8,
      },
      {
        title: 'HTTP 5xx ratio by track',
        description:
          'Share of HTTP requests answered 5xx, per workload and track; MeshHighErrorRate fires above 5%.',
        queries: [
          [
            `sum by (destination_workload, track) (rate(istio_requests_total{${dst},request_protocol="http",response_code=~"5.."}[${RI}])) / sum by (destination_workload, track) (rate(istio_requests_total{${dst},request_protocol="http"}[${RI}]))`,
            '{{destination_workload}} {{track}}',
          ],
        ],
        unit: 'percentunit',
        threshold: 0.05,
        w: 8,
      },
      {
        title: 'gRPC status by service',
        description:
          'grpc_response_status of the calls served (0 OK, 5 NOT_FOUND, 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, ...).',
        queries: [
          [
            `sum by (destination_service_name, grpc_response_status) (rate(istio_requests_total{${dst},request_protocol="grpc"}[${RI}]))`,
            '{{destination_service_name}} {{grpc_response_status}}',
          ],
        ],
        unit: 'reqps',
      },
      {
        title: 'gRPC failure ratio by track',
        description:
          'Share of gRPC calls ending with a server-side failure status (2, 4, 8, 13, 14, 15), per workload and track; MeshGrpcErrorRate fires above 5%.',
        queries: [
          [
            `sum by (destination_workload, track) (rate(istio_requests_total{${dst},request_protocol="grpc",grpc_response_status=~"2|4|8|13|14|15"}[${RI}])) / sum by (destination_workload, track) (rate(istio_requests_total{${dst},request_protocol="grpc"}[${RI}]))`,
            '{{destination_workload}} {{track}}',
          ],
        ],
        unit: 'percentunit',
        threshold: 0.05,
      },
      {
        title: 'Latency by track (p50, p95, p99)',
        description:
          'Request duration measured by the serving sidecar, application time and the proxy included.',
        queries: ([0.5, 0.95, 0.99] as const).map((q): Query => [
          `histogram_quantile(${q}, sum by (destination_service_name, track, le) (rate(istio_request_duration_milliseconds_bucket{${dst}}[${RI}])))`,
          `{{destination_service_name}} {{track}} p${Math.round(q * 100)}`,
        ]),
        unit: 'ms',
        w: 24,
      },
      { row: 'Envoy' },
      {
        title: 'Calls failed by the sidecar, by response flag',
        description:
          'Calls that the caller\'s sidecar ended itself (reporter="source", response_flags not "-"): UH no healthy upstream, UF connection failure (mTLS), UO overflow, URX retry limit, NR no route, UT timeout. MeshProxyFailures fires above 1%.',
        queries: [
          [
            `sum by (source_workload, destination_service_name, response_flags) (rate(istio_requests_total{${src},response_flags!~"-|"}[${RI}]))`,
            '{{source_workload}} → {{destination_service_name}} {{response_flags}}',
          ],
        ],
        unit: 'reqps',
      },
      {
        title: 'Retries and timeouts seen by callers',
        description:
          'Calls sent per caller (reporter="source", retries included) against calls served (reporter="destination"): sent well above served is retry amplification.',
        queries: [
          [
            `sum by (source_workload, destination_service_name) (rate(istio_requests_total{${src}}[${RI}]))`,
            '{{source_workload}} → {{destination_service_name}} sent',
          ],
          [
            `sum by (destination_service_name) (rate(istio_requests_total{${dst}}[${RI}]))`,
            '{{destination_service_name}} served',
          ],
        ],
        unit: 'reqps',
      },
      { row: 'Pods' },
      {
        title: 'Container restarts over the time range',
        description: 'kube-state-metrics restarts per container (PodRestartingOften: 3 in 15 minutes).',
        queries: [
          [
            `sum by (namespace, pod, container) (increase(kube_pod_container_status_restarts_total{${pods}}[$__range])) > 0`,
            '{{namespace}}/{{pod}} {{container}}',
          ],
        ],
        kind: 'bargauge',
        instant: true,
        threshold: 3,
        w: 8,
      },
      {
        title: 'CPU throttling',
        description:
          'Share of CFS periods throttled per container (sidecars included); ContainerCpuThrottled fires above 25% for 15 minutes.',
        queries: [
          [
            `sum by (namespace, pod, container) (rate(container_cpu_cfs_throttled_periods_total{${pods},container!=""}[${RI}])) / sum by (namespace, pod, container) (rate(container_cpu_cfs_periods_total{${pods},container!=""}[${RI}]))`,
            '{{pod}} {{container}}',
          ],
        ],
        unit: 'percentunit',
        threshold: 0.25,
        w: 8,
      },
      {
        title: 'Last terminated: OOMKilled',
        description:
          'Containers whose last termination was an OOM kill (ContainerOomKilled fires when one restarts so).',
        queries: [
          [
            `max by (namespace, pod, container) (kube_pod_container_status_last_terminated_reason{${pods},reason="OOMKilled"}) == 1`,
            '{{namespace}}/{{pod}} {{container}}',
          ],
        ],
        kind: 'stat',
        instant: true,
        threshold: 1,
        w: 8,
      },
      { row: 'istiod' },
      {
        title: 'istiod up',
        description:
          "Scrape of istiod's monitoring port 15014 (job istiod); IstiodDown fires when every instance is down for 2 minutes.",
        queries: [['sum(up{job="istiod"})', 'instances up']],
        kind: 'stat',
        w: 8,
      },
      {
        title: 'Connected sidecars',
        description: 'xDS connections istiod holds (pilot_xds): one per proxy in the mesh.',
        queries: [['sum(pilot_xds{job="istiod"})', 'proxies']],
        w: 8,
      },
      {
        title: 'xDS pushes by type',
        description:
          'Configuration pushed to the sidecars (cds, eds, lds, rds); a burst follows every endpoint or config change.',
        queries: [[`sum by (type) (rate(pilot_xds_pushes{job="istiod"}[${RI}]))`, '{{type}}']],
        unit: 'ops',
        w: 8,
      },
    ],
  );
}

/** All dashboards, keyed by file name under grafana/dashboards/. */
export function buildDashboards(): Record<string, Dashboard> {
  return {
    'platform-overview.json': overview(),
    'saga.json': saga(),
    'messaging.json': messaging(),
    'slo.json': slo(),
    'mesh.json': mesh(),
  };
}
