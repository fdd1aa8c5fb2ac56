import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baseMetricName, extractMetricNames, isPromqlWord } from '../src/promql';

describe('extractMetricNames', () => {
  it('returns the selected metric and ignores functions, label names and label values', () => {
    assert.deepEqual(
      extractMetricNames(
        'sum by (service, topic) (rate(outbox_published_total{service=~"orders|payments",topic!="x"}[5m]))',
      ),
      ['outbox_published_total'],
    );
  });

  it('keeps histogram suffixes as written', () => {
    assert.deepEqual(
      extractMetricNames(
        'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{le="0.3"}[5m]))) / sum(rate(http_request_duration_seconds_count[5m]))',
      ),
      ['http_request_duration_seconds_bucket', 'http_request_duration_seconds_count'],
    );
  });

  it('drops vector-matching clauses, keywords, numbers and offsets', () => {
    assert.deepEqual(
      extractMetricNames(
        `(db_pool_clients_total - db_pool_clients_idle) / on (service, instance) group_left (pod) db_pool_clients_max >= bool 0.9
         and ignoring (le) saga_overdue offset 15m unless kafka_consumer_lag @ 1700000000 > 1e3 or vector(0)`,
      ),
      [
        'db_pool_clients_idle',
        'db_pool_clients_max',
        'db_pool_clients_total',
        'kafka_consumer_lag',
        'saga_overdue',
      ],
    );
  });

  it('handles aggregations written with the clause after the argument and without spaces', () => {
    assert.deepEqual(extractMetricNames('sum(rate(saga_started_total[1m]))by(service)'), [
      'saga_started_total',
    ]);
    assert.deepEqual(extractMetricNames('max without(instance)(saga_in_flight)'), ['saga_in_flight']);
  });

  it('ignores Grafana variables in ranges, matchers and elsewhere', () => {
    assert.deepEqual(
      extractMetricNames(
        'sum by (service) (increase(messages_consumed_total{service=~"$service",outcome="dead_lettered"}[$__range])) * ${factor} + $offset',
      ),
      ['messages_consumed_total'],
    );
  });

  it('ignores string arguments, comments, and braces or brackets inside strings', () => {
    assert.deepEqual(
      extractMetricNames(
        'label_replace(up_like_metric{a="}{[]"}, "dst", "$1", "src", "(.*)") # not_a_metric here\n + count_values("value", saga_in_flight)',
      ),
      ['saga_in_flight', 'up_like_metric'],
    );
  });

  it('returns recording-rule names too (the caller removes them) and nothing for pure arithmetic', () => {
    assert.deepEqual(extractMetricNames('slo:burn_rate:rate1h > 14.4'), ['slo:burn_rate:rate1h']);
    assert.deepEqual(extractMetricNames('vector(0.999) * 2 + time()'), []);
  });

  it('takes subqueries and absent() selectors', () => {
    assert.deepEqual(
      extractMetricNames(
        'max_over_time(rate(outbox_publish_failures_total[5m])[1h:1m]) or absent(up{job="orders"})',
      ),
      ['outbox_publish_failures_total', 'up'],
    );
  });
});

describe('baseMetricName and isPromqlWord', () => {
  it('maps histogram series to their metric', () => {
    assert.equal(baseMetricName('saga_duration_seconds_bucket'), 'saga_duration_seconds');
    assert.equal(baseMetricName('nodejs_gc_duration_seconds_sum'), 'nodejs_gc_duration_seconds');
    assert.equal(baseMetricName('grpc_server_handling_seconds_count'), 'grpc_server_handling_seconds');
    assert.equal(baseMetricName('saga_started_total'), 'saga_started_total');
  });

  it('knows functions, aggregations and keywords', () => {
    for (const word of [
      'rate',
      'histogram_quantile',
      'sum',
      'topk',
      'and',
      'unless',
      'group_left',
      'bool',
      'Inf',
      'NaN',
    ]) {
      assert.equal(isPromqlWord(word), true, word);
    }
    assert.equal(isPromqlWord('saga_overdue'), false);
  });
});
