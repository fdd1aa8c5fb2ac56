// Finds the metric names a PromQL expression selects. Not a full parser: it removes everything that cannot be a
// metric name (strings, label matchers, ranges, grouping clauses, offsets, Grafana variables) and keeps the
// identifiers that are neither functions, aggregations nor keywords. Good enough for the expressions in this
// package, and checked against them by the unit tests.

// prettier-ignore
const FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'avg_over_time', 'ceil',
  'changes', 'clamp', 'clamp_max', 'clamp_min', 'cos', 'cosh', 'count_over_time', 'day_of_month', 'day_of_week',
  'day_of_year', 'days_in_month', 'deg', 'delta', 'deriv', 'double_exponential_smoothing', 'exp', 'floor',
  'histogram_avg', 'histogram_count', 'histogram_fraction', 'histogram_quantile', 'histogram_stddev',
  'histogram_stdvar', 'histogram_sum', 'holt_winters', 'hour', 'idelta', 'increase', 'info', 'irate', 'label_join',
  'label_replace', 'last_over_time', 'ln', 'log10', 'log2', 'mad_over_time', 'max_over_time', 'min_over_time',
  'minute', 'month', 'pi', 'predict_linear', 'present_over_time', 'quantile_over_time', 'rad', 'rate', 'resets',
  'round', 'scalar', 'sgn', 'sin', 'sinh', 'sort', 'sort_by_label', 'sort_by_label_desc', 'sort_desc', 'sqrt',
  'stddev_over_time', 'stdvar_over_time', 'sum_over_time', 'tan', 'tanh', 'time', 'timestamp', 'vector', 'year',
]);

// prettier-ignore
const AGGREGATIONS = new Set([
  'avg', 'bottomk', 'count', 'count_values', 'group', 'limit_ratio', 'limitk', 'max', 'min', 'quantile', 'stddev',
  'stdvar', 'sum', 'topk',
]);

// prettier-ignore
const KEYWORDS = new Set([
  'and', 'or', 'unless', 'atan2', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool',
  'inf', 'nan', 'start', 'end',
]);

/** Series that Prometheus itself creates for every target or rule: never exported by a service. */
export const SYNTHETIC_SERIES = new Set([
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
  'ALERTS',
  'ALERTS_FOR_STATE',
]);

const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

/** The histogram or summary a `_bucket`, `_sum` or `_count` series belongs to; other names are returned as is. */
export function baseMetricName(name: string): string {
  return name.replace(HISTOGRAM_SUFFIX, '');
}

/** Whether an identifier is a PromQL function, aggregation operator or keyword rather than a metric name. */
export function isPromqlWord(word: string): boolean {
  const lower = word.toLowerCase();
  return FUNCTIONS.has(word) || AGGREGATIONS.has(word) || KEYWORDS.has(lower);
}

/** Metric names selected by a PromQL expression, unique and sorted, spelled as written (suffixes kept). */
export function extractMetricNames(expr: string): string[] {
  const text = expr
    // string literals: label values, label_replace arguments, count_values names
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    // comments (after the strings, which may contain '#')
    .replace(/#[^\n]*/g, ' ')
    // label matchers and ranges/subqueries, including Grafana's [$__rate_interval]
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    // grouping and vector-matching clauses hold label names
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ')
    // offset and @ modifiers
    .replace(/\boffset\s+-?[\w.]+/gi, ' ')
    .replace(/@\s*(start\(\)|end\(\)|[\d.]+)/g, ' ')
    // Grafana variables outside brackets ($service, ${service}, [[service]] was removed above)
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ');

  const names = new Set<string>();
  // Numbers (including 1e-3, 0x1f and durations) are consumed first so that their letters are not taken as
  // identifiers; an identifier directly followed by '(' is a function call.
  const token = /(\d[\w.]*)|([A-Za-z_:][\w:]*)(\s*\()?/g;
  for (let m = token.exec(text); m !== null; m = token.exec(text)) {
    const ident = m[2];
    if (ident === undefined || m[3] !== undefined || isPromqlWord(ident)) continue;
    names.add(ident);
  }
  return [...names].sort();
}
