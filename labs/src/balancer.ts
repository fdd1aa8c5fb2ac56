// A small HTTP load balancer in the lab runner, the local analogue of what sits in front of a Deployment's pods on a
// cluster: kube-proxy's endpoints (a backend leaves the set only after its readiness probe has failed, so it is
// dropped late), or an Istio VirtualService's weighted routes (canary). Backends are chosen by smooth weighted
// round robin among the ready ones; an upstream that refuses or resets a request gives a 502 at the edge, as an
// Envoy or a cloud load balancer does.
import { createServer, request as httpRequest, Agent } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface BalancerBackend {
  name: string;
  port: number;
  weight: number;
}

export interface BackendStats {
  ready: boolean;
  weight: number;
  sent: number;
  /** Requests the backend refused, reset or dropped (answered 502 by the balancer). */
  failed: number;
}

export interface Balancer {
  readonly url: string;
  setWeight(name: string, weight: number): void;
  stats(): Record<string, BackendStats>;
  stop(): Promise<void>;
}

export interface BalancerOptions {
  port: number;
  backends: BalancerBackend[];
  /** How often each backend's /readyz is probed; a failed probe drops it until one succeeds (the endpoint lag). */
  probeIntervalMs: number;
  /**
   * Consecutive failed probes before a ready backend is dropped (a readinessProbe's failureThreshold, 3 on a
   * cluster by default); 1 when unset.
   */
  failureThreshold?: number;
}

interface State extends BalancerBackend {
  ready: boolean;
  failures: number;
  current: number;
  sent: number;
  failed: number;
}

export async function startBalancer(opts: BalancerOptions): Promise<Balancer> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const backends: State[] = opts.backends.map((b) => ({
    ...b,
    ready: false,
    failures: 0,
    current: 0,
    sent: 0,
    failed: 0,
  }));
  let stopped = false;
  const threshold = opts.failureThreshold ?? 1;
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > 10)
    throw new Error(`balancer failureThreshold: an integer in 1..10, got ${threshold}`);

  const probe = async (b: State) => {
    let ok: boolean;
    try {
      const res = await fetch(`http://127.0.0.1:${b.port}/readyz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      ok = res.status === 200;
    } catch {
      ok = false;
    }
    b.failures = ok ? 0 : b.failures + 1;
    if (ok) b.ready = true;
    else if (b.failures >= threshold) b.ready = false;
  };
  await Promise.all(backends.map(probe));
  const prober = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, opts.probeIntervalMs));
      if (!stopped) await Promise.all(backends.map(probe));
    }
  })();

  // Smooth weighted round robin (nginx): deterministic shares, no bursts to one backend.
  const pick = (): State | undefined => {
    const live = backends.filter((b) => b.ready && b.weight > 0);
    const total = live.reduce((a, b) => a + b.weight, 0);
    let best: State | undefined;
    for (const b of live) {
      b.current += b.weight;
      if (!best || b.current > best.current) best = b;
    }
    if (best) best.current -= total;
    return best;
  };

  const fail = (res: ServerResponse, status: number, detail: string) => {
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title: 'Bad Gateway', status, detail }));
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const b = pick();
    if (!b) return fail(res, 503, 'no ready backend');
    b.sent++;
    res.setHeader('x-lab-backend', b.name);
    const up = httpRequest(
      {
        host: '127.0.0.1',
        port: b.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
        timeout: 15_000,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      },
    );
    up.on('timeout', () => up.destroy(new Error('upstream timeout')));
    up.on('error', (err: NodeJS.ErrnoException) => {
      b.failed++;
      fail(res, 502, `${b.name}: ${err.code ?? err.message}`);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });

  return {
    url: `http://127.0.0.1:${opts.port}`,
    setWeight(name, weight) {
      const b = backends.find((x) => x.name === name);
      if (!b) throw new Error(`no backend ${name}`);
      b.weight = weight;
    },
    stats: () =>
      Object.fromEntries(
        backends.map((b) => [b.name, { ready: b.ready, weight: b.weight, sent: b.sent, failed: b.failed }]),
      ),
    async stop() {
      stopped = true;
      await prober;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}
