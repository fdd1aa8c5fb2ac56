import { createServer, createConnection } from 'node:net';
import { waitFor } from './proc.js';

/** Resolves true when 127.0.0.1:port can be bound right now. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
export function isListening(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Throws a clear error naming the port and how to change it when it is taken. */
export async function assertPortFree(port: number, what: string, howToChange: string): Promise<void> {
  if (!(await canBind(port))) {
    throw new Error(
      `port ${port} on 127.0.0.1 (${what}) is already in use by another process. ` +
        `Stop that process (e.g. \`ss -ltnp 'sport = :${port}'\` shows who holds it) or ${howToChange}.`,
    );
  }
}

/** Waits (bounded) until nothing listens on any of the ports; returns the ports still busy. */
export async function waitPortsFree(ports: number[], timeoutMs: number): Promise<number[]> {
  let busy: number[] = [...ports];
  await waitFor(
    async () => {
      const still: number[] = [];
      for (const port of busy) if (!(await canBind(port))) still.push(port);
      busy = still;
      return busy.length === 0;
    },
    timeoutMs,
    100,
  );
  return busy;
}
