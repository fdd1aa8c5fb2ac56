// Arrival-rate profiles of the load generator: the target rate (operations started per second) as a function of the
// time since the start, and the fixed timeline of scheduled starts it gives. The timeline does not depend on any
// response: that is what makes the load open-loop.

export type ProfileKind = 'constant' | 'ramp' | 'spike' | 'soak' | 'reads';
export const PROFILE_KINDS: ProfileKind[] = ['constant', 'ramp', 'spike', 'soak', 'reads'];

/** Any run is bounded: the longest soak, and the highest rate one process schedules. */
export const MAX_DURATION_MS = 6 * 3_600_000;
export const MAX_RATE = 5000;

export interface Profile {
  kind: ProfileKind;
  durationMs: number;
  /** Target starts per second at `tMs` after the start. */
  rate(tMs: number): number;
  describe: string;
}

export interface ProfileSpec {
  kind: ProfileKind;
  durationMs: number;
  /** constant, soak, reads: the rate; spike: the base rate. */
  rate?: number;
  /** ramp: from → to. */
  from?: number;
  to?: number;
  /** spike: the peak rate, when it starts (ms after the start) and how long it lasts. */
  peak?: number;
  atMs?: number;
  spikeMs?: number;
}

const need = (v: number | undefined, flag: string, kind: string): number => {
  if (v === undefined || !Number.isFinite(v)) throw new Error(`--profile ${kind} needs ${flag}`);
  if (v < 0 || v > MAX_RATE)
    throw new Error(`${flag} must be between 0 and ${MAX_RATE} per second, got ${v}`);
  return v;
};

export function makeProfile(spec: ProfileSpec): Profile {
  const d = spec.durationMs;
  if (!(d > 0) || d > MAX_DURATION_MS)
    throw new Error(`--duration must be positive and at most ${MAX_DURATION_MS / 3_600_000} h, got ${d} ms`);
  const secs = `${(d / 1000).toFixed(d % 1000 ? 1 : 0)} s`;
  switch (spec.kind) {
    case 'constant':
    case 'soak':
    case 'reads': {
      const r = need(spec.rate, '--rate', spec.kind);
      if (r === 0) throw new Error('--rate must be positive');
      return { kind: spec.kind, durationMs: d, rate: () => r, describe: `${spec.kind} ${r}/s for ${secs}` };
    }
    case 'ramp': {
      const from = need(spec.from, '--from', 'ramp');
      const to = need(spec.to, '--to', 'ramp');
      if (from === 0 && to === 0) throw new Error('--profile ramp: --from and --to cannot both be 0');
      return {
        kind: 'ramp',
        durationMs: d,
        rate: (t) => from + ((to - from) * Math.min(t, d)) / d,
        describe: `ramp ${from}/s -> ${to}/s over ${secs}`,
      };
    }
    case 'spike': {
      const base = need(spec.rate, '--rate', 'spike');
      const peak = need(spec.peak, '--peak', 'spike');
      const at = spec.atMs ?? d / 3;
      const len = spec.spikeMs ?? d / 6;
      if (!(at >= 0 && len > 0 && at + len <= d))
        throw new Error(`--profile spike: --at + --spike-duration must lie inside --duration (${secs})`);
      if (base === 0 && peak === 0) throw new Error('--profile spike: --rate and --peak cannot both be 0');
      return {
        kind: 'spike',
        durationMs: d,
        rate: (t) => (t >= at && t < at + len ? peak : base),
        describe: `spike ${base}/s, ${peak}/s from ${at / 1000} s for ${len / 1000} s, ${secs} in all`,
      };
    }
  }
}

/**
 * The scheduled starts, in ms after the start: the k-th start where the integral of the rate reaches k + 1/2, so
 * that a constant rate gives evenly spaced starts and a ramp or a spike exactly the area under its curve (at a
 * rate near zero no start waits for a step far ahead). Computed lazily, in 1 ms steps, so that a long soak does not
 * hold millions of numbers.
 */
export function* arrivals(p: Profile): Generator<number> {
  const STEP = 1;
  let area = 0;
  let next = 0.5;
  for (let t = 0; t < p.durationMs; t += STEP) {
    const r = p.rate(t) / 1000;
    const step = Math.min(STEP, p.durationMs - t);
    if (r <= 0) continue;
    while (area + r * step >= next) {
      yield t + (next - area) / r;
      next += 1;
    }
    area += r * step;
  }
}

/** How many starts the timeline holds (to size the pool of customers before the clock starts). */
export function expectedArrivals(p: Profile): number {
  let n = 0;
  for (let t = 0; t < p.durationMs; t += 100) n += (p.rate(t) * Math.min(100, p.durationMs - t)) / 1000;
  return Math.ceil(n);
}
