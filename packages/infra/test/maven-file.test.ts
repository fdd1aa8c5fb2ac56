// The one-time download of a file from a Maven repository (the trace viewer's jar), against a real HTTP server in
// this test that answers like Maven Central: the file, its .sha256 and its .sha1.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mavenFile } from '../src/maven.js';

const dir = mkdtempSync(join(tmpdir(), 'shop-maven-'));
const body = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
const sha256 = createHash('sha256').update(body).digest('hex');
const sha1 = createHash('sha1').update(body).digest('hex');
const path = 'org/example/tool/1.0/tool-1.0-exec.jar';

describe('a file from a Maven repository, cached and verified', () => {
  let server: Server;
  let repository: string;
  const requests: string[] = [];
  /** What the server sends as the file (a corrupted copy for one test). */
  let served = body;
  let published256 = sha256;

  before(async () => {
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const url = req.url ?? '';
      if (url === `/maven2/${path}`)
        return res.writeHead(200, { 'content-length': served.length }).end(served);
      if (url === `/maven2/${path}.sha256`) return res.writeHead(200).end(published256);
      if (url === `/maven2/${path}.sha1`) return res.writeHead(200).end(`${sha1}  tool-1.0-exec.jar\n`);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    repository = `http://127.0.0.1:${(server.address() as AddressInfo).port}/maven2`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (name: string, over: Partial<Parameters<typeof mavenFile>[0]> = {}) => ({
    label: 'tool 1.0',
    path,
    sha256,
    target: join(dir, name, 'tool-1.0-exec.jar'),
    repository,
    ...over,
  });

  it('downloads once, verifies SHA-256 and SHA-1, and serves the cached copy afterwards', async () => {
    const lines: string[] = [];
    const target = await mavenFile(file('ok'), (_s, l) => lines.push(l));
    assert.ok(readFileSync(target).equals(body));
    assert.match(
      lines.join('\n'),
      /downloading tool 1\.0 \(3\.1 MB\) from http:\/\/127\.0\.0\.1:\d+\/maven2\//,
    );
    assert.match(lines.join('\n'), /tool 1\.0 cached \(3\.1 MB in \d+ s, SHA-256 and SHA-1 verified\)/);
    const before = requests.length;
    assert.equal(await mavenFile(file('ok'), () => undefined), target);
    assert.equal(requests.length, before, 'the cached copy is used without asking the repository');
  });

  it('refuses a corrupted download and keeps nothing', async () => {
    served = Buffer.concat([body.subarray(0, body.length - 1), Buffer.from([8])]);
    try {
      await assert.rejects(
        mavenFile(file('corrupt'), () => undefined),
        /tool 1\.0 from .* is corrupt: SHA-256 [0-9a-f]{64} \(expected [0-9a-f]{64}\).*nothing was kept/,
      );
      assert.deepEqual(readdirSync(join(dir, 'corrupt')), []);
    } finally {
      served = body;
    }
  });

  it('refuses when the repository publishes another digest than the pinned one', async () => {
    published256 = '0'.repeat(64);
    try {
      await assert.rejects(
        mavenFile(file('repinned'), () => undefined),
        /\.sha256 says 0{64}, this project pinned [0-9a-f]{64} for tool 1\.0: refusing it/,
      );
      assert.ok(!existsSync(join(dir, 'repinned', 'tool-1.0-exec.jar')));
    } finally {
      published256 = sha256;
    }
  });

  it('offline: says what could not be fetched, where the file belongs and which digest it must have', async () => {
    // A port nothing listens on: connection refused, as on a machine without the network.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const target = join(dir, 'offline', 'tool-1.0-exec.jar');
    await assert.rejects(
      mavenFile(file('offline', { repository: `http://127.0.0.1:${port}/maven2` }), () => undefined),
      (err: Error) => {
        assert.match(
          err.message,
          /^cannot download tool 1\.0 from http:\/\/127\.0\.0\.1:\d+\/maven2\/org\/example/,
        );
        assert.match(err.message, /ECONNREFUSED/);
        assert.ok(err.message.includes(target), err.message);
        assert.ok(err.message.includes(`its SHA-256 must be ${sha256}`), err.message);
        return true;
      },
    );
    // A copy put there by hand is accepted when its digest is the pinned one, without the network.
    writeFileSync(target, body);
    assert.equal(
      await mavenFile(file('offline', { repository: `http://127.0.0.1:${port}/maven2` }), () => undefined),
      target,
    );
    writeFileSync(target, Buffer.from('not the jar'));
    rmSync(`${target}.sha256-verified`);
    await assert.rejects(
      mavenFile(file('offline', { repository: `http://127.0.0.1:${port}/maven2` }), () => undefined),
      /cannot download tool 1\.0/,
    );
    assert.ok(!existsSync(target), 'a wrong copy is removed, not used');
  });
});
