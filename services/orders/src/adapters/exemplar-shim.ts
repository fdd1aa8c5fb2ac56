import type { Metrics } from '@shop/platform';

type Observe = (...args: unknown[]) => void;

/**
 * Work-around for @shop/platform 10999e4: its histograms are created with `enableExemplars: true`, which makes
 * prom-client accept only `observe({ labels, value })`, yet platform code (gRPC interceptors) still calls
 * `observe(labels, value)` and throws "Value is not a valid number". This adapts the two-argument form on this
 * service's histograms. Harmless once the platform is fixed; delete it then.
 */
export function adaptExemplarHistograms(metrics: Metrics): void {
  const histograms = [
    metrics.grpcServer.duration,
    metrics.grpcClient.duration,
    metrics.http.duration,
    metrics.saga.duration,
    metrics.saga.stepDuration,
  ];
  for (const h of histograms) {
    const target = h as unknown as { observe: Observe };
    const original: Observe = target.observe.bind(h);
    target.observe = (a: unknown, b?: unknown) => {
      if (typeof b === 'number' && typeof a === 'object' && a !== null) original({ labels: a, value: b });
      else original(a);
    };
  }
}
