// The lab's analogue of a HorizontalPodAutoscaler on CPU utilisation (autoscaling/v2, type Resource, cpu): every
// interval it reads process_cpu_seconds_total from each instance's /metrics (what metrics-server reads from the
// kubelet), takes the rate over the interval relative to the CPU request, and sets the replica count the way the HPA
// does: desired = ceil(current * average utilisation / target), within [min, max], left alone inside a 10 %
// tolerance. Replicas are platform.startReplica slots under the same resources; a balancer that lists the slots
// (labs/src/balancer.ts) sends them traffic once they are ready, as a Service's endpoints do. It never scales down:
// the HPA's scale-down stabilisation window (5 min) is longer than a lab.
import type { CpuResources } from './cgroups';
import { scrape, sumOf } from './measure';
import type { Platform, ServiceName } from './platform';
import { REPLICA_SLOTS } from './platform';

export interface AutoscalerOptions {
  platform: Platform;
  service: ServiceName;
  /** Instances in all, the service itself included (minReplicas / maxReplicas of the HPA). */
  minReplicas: number;
  maxReplicas: number;
  /** averageUtilization: the target share (0-1) of the CPU request. */
  targetUtilization: number;
  /** The pod template's resources: every replica started gets them. */
  resources: CpuResources;
  /** The replicas' variables beyond the baseline (the same build as the service: its FAULTS, say). */
  env?: Record<string, string>;
  intervalMs: number;
  say?: (line: string) => void;
}

export interface Autoscaler {
  /** Instances running now, the service itself included. */
  instances(): number;
  /** Scaling decisions so far, as lines. */
  readonly events: string[];
  /** Resolves once at least minReplicas instances are up (the first reconcile). */
  ready: Promise<void>;
  stop(): Promise<void>;
}

const TOLERANCE = 0.1;

export function validateAutoscaler(o: AutoscalerOptions): void {
  const max = REPLICA_SLOTS + 1;
  if (!Number.isInteger(o.minReplicas) || o.minReplicas < 1 || o.minReplicas > max)
    throw new Error(`autoscaler minReplicas: an integer in 1..${max}, got ${o.minReplicas}`);
  if (!Number.isInteger(o.maxReplicas) || o.maxReplicas < o.minReplicas || o.maxReplicas > max)
    throw new Error(`autoscaler maxReplicas: an integer in minReplicas..${max}, got ${o.maxReplicas}`);
  if (!(o.targetUtilization > 0 && o.targetUtilization <= 1))
    throw new Error(`autoscaler targetUtilization: a share in (0, 1], got ${o.targetUtilization}`);
  if (!Number.isInteger(o.intervalMs) || o.intervalMs < 250 || o.intervalMs > 60_000)
    throw new Error(`autoscaler intervalMs: 250..60000, got ${o.intervalMs}`);
}

export function startAutoscaler(o: AutoscalerOptions): Autoscaler {
  validateAutoscaler(o);
  const say = o.say ?? (() => undefined);
  const events: string[] = [];
  const { platform, service } = o;
  const ports = () => [
    platform.ports[service].http,
    ...platform
      .replicas()
      .filter((r) => r.service === service)
      .map((r) => r.ports.http),
  ];
  const last = new Map<number, { at: number; cpu: number }>();
  let stopped = false;
  let wake: (() => void) | undefined;

  const scaleTo = async (desired: number, why: string) => {
    const line = `autoscaler: ${service} ${ports().length} -> ${desired} instances (${why})`;
    events.push(line);
    say(line);
    const used = new Set(
      platform
        .replicas()
        .filter((r) => r.service === service)
        .map((r) => r.slot),
    );
    for (let slot = 0; slot < REPLICA_SLOTS && ports().length < desired && !stopped; slot++) {
      if (used.has(slot)) continue;
      await platform.startReplica(service, slot, o.env ?? {}, o.resources);
    }
  };

  /** Average utilisation of the request over the last interval, from the instances measured twice. */
  const utilisation = async () => {
    const now = Date.now();
    const rates: number[] = [];
    for (const port of ports()) {
      const cpu = sumOf(
        await scrape(`http://127.0.0.1:${port}/metrics`).catch(() => []),
        'process_cpu_seconds_total',
      );
      const prev = last.get(port);
      last.set(port, { at: now, cpu });
      // A replica that just started is not averaged in yet: the HPA ignores a pod's first, start-up samples too.
      if (prev && cpu >= prev.cpu && now > prev.at) rates.push((cpu - prev.cpu) / ((now - prev.at) / 1000));
    }
    if (rates.length === 0) return undefined;
    return rates.reduce((a, r) => a + r, 0) / rates.length / o.resources.requestCores;
  };

  const reconcile = async () => {
    const current = ports().length;
    if (current < o.minReplicas) return scaleTo(o.minReplicas, `minReplicas ${o.minReplicas}`);
    const u = await utilisation();
    if (u === undefined || Math.abs(u / o.targetUtilization - 1) <= TOLERANCE) return;
    const desired = Math.min(o.maxReplicas, Math.ceil((current * u) / o.targetUtilization));
    if (desired > current)
      await scaleTo(
        desired,
        `CPU ${(u * 100).toFixed(0)}% of request > target ${(o.targetUtilization * 100).toFixed(0)}%`,
      );
  };

  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const loop = (async () => {
    for (let tick = 0; !stopped && tick < 100_000; tick++) {
      try {
        await reconcile();
      } catch (err) {
        const line = `autoscaler: ${service}: ${(err as Error).message}`;
        events.push(line);
        say(line);
      }
      if (ports().length >= o.minReplicas) markReady();
      if (stopped) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, o.intervalMs).unref();
      });
    }
  })();

  return {
    instances: () => ports().length,
    events,
    ready,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      markReady();
    },
  };
}
