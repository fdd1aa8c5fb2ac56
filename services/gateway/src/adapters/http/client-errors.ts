import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Problem } from './problems';
import { PROBLEM_CONTENT_TYPE, problem } from './problems';

// Requests Node's HTTP parser refuses (e.g. a control character in an Idempotency-Key) never reach Fastify's
// routes; answer them as problems too, naming the offending header when the raw packet shows it.
const hasControl = (s: string) =>
  [...s].some((ch) => {
    const c = ch.charCodeAt(0);
    return (c < 0x20 && c !== 0x09) || c === 0x7f;
  });

function offendingHeader(raw: Buffer | undefined): string | undefined {
  if (!raw) return undefined;
  const lines = raw.toString('latin1').split('\r\n').slice(1);
  for (const line of lines) {
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon > 0 && hasControl(line.slice(colon + 1))) return line.slice(0, colon).trim();
  }
  return undefined;
}

export function problemForClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }): Problem {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return problem(
      431,
      'bad-request',
      'Request header fields too large',
      'the request headers are too large',
    );
  }
  const header = offendingHeader(err.rawPacket);
  if (header) {
    const message = 'must not contain control characters';
    return problem(400, 'validation-failed', 'The request is invalid', `${header}: ${message}`, [
      { field: header, message },
    ]);
  }
  return problem(400, 'bad-request', 'Bad request', 'the HTTP request is malformed');
}

export function answerClientErrorsAsProblems(app: FastifyInstance): void {
  const server = app.server;
  server.removeAllListeners('clientError');
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const p = problemForClientError(err);
    const body = JSON.stringify(p);
    const reason = p.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
    socket.end(
      `HTTP/1.1 ${p.status} ${reason}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
