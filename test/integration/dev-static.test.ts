import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountWebRoot } from '../../src/admin/dev.js';
import { loadUws, type us_listen_socket } from '../../src/gateway/uws.js';
import { createLogger, createNode, loadConfig } from '../../src/main.js';
import { startBuiltNode, type TestNode } from '../helpers/node.js';

/** Dev mode serves the demo page's files: no URL may crash the process or reach outside them. */

interface RawAnswer {
  status: number;
  body: Buffer;
}

/** A GET with the path sent as written (node:http does not normalize it, unlike fetch). */
function rawGet(port: number, path: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const HOSTILE = [
  '/.', '/..', '/./', '/../', '/...', '//', '///', '/.//..', '/%2e', '/%2e%2e', '/%2e%2e/', '/%2E%2E/%2e%2e/package.json',
  '/..%2f..%2fpackage.json', '/%2f', '/%00', '/a%00b', '/%', '/%zz', '/%e0%a4%a', '/\\..\\..\\package.json', '/assets', '/assets/',
  '/assets/.', '/assets/..', '/index.html/', '/index.html/x', `/${'x'.repeat(300)}`, `/${'a/'.repeat(600)}`, `/${'%2e%2e/'.repeat(200)}`,
];

function expectNotFound(answer: RawAnswer, path: string): void {
  expect(answer.status, path).toBe(404);
  expect(JSON.parse(answer.body.toString('utf8')), path).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
}

describe('static files of a web root with files and a directory', () => {
  const uws = loadUws();
  const app = uws.App();
  let root: string;
  let port: number;
  let listen: us_listen_socket | undefined;
  const BINARY = Buffer.from([0, 0xff, 0x80, 0xc3, 0x28]);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'parley-web-'));
    await mkdir(join(root, 'assets'));
    await writeFile(join(root, 'index.html'), '<html>demo</html>');
    await writeFile(join(root, 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(root, 'assets', 'blob.bin'), BINARY);
    mountWebRoot(app, true, root, createLogger('silent'));
    port = await new Promise<number>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (socket) => {
        if (!socket) return reject(new Error('cannot listen'));
        listen = socket;
        resolve(uws.us_socket_local_port(socket));
      }),
    );
  });
  afterAll(async () => {
    if (listen) uws.us_listen_socket_close(listen);
    await rm(root, { recursive: true, force: true });
  });

  it('answers every hostile path 404 JSON, then still serves its files', async () => {
    for (const path of HOSTILE) expectNotFound(await rawGet(port, path), path);
    const index = await rawGet(port, '/');
    expect(index.status).toBe(200);
    expect(index.body.toString('utf8')).toBe('<html>demo</html>');
    expect((await rawGet(port, '/assets/app.js')).body.toString('utf8')).toBe('console.log(1)');
    // An escaped name is decoded; bytes are served as they are.
    expect((await rawGet(port, '/assets/%62lob.bin')).body).toEqual(BINARY);
  });
});

describe('a dev-mode node', () => {
  let node: TestNode;
  beforeAll(async () => {
    const { config } = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent' });
    node = await startBuiltNode(createNode(config, createLogger(config.logLevel)), config);
  });
  afterAll(async () => {
    await node.close();
  });

  it('survives a batch of hostile paths and still answers /healthz', async () => {
    expect(node.config.devMode).toBe(true);
    const answers = await Promise.all(HOSTILE.map(async (path) => [path, await rawGet(node.port, path)] as const));
    for (const [path, answer] of answers) expectNotFound(answer, path);
    expect((await rawGet(node.port, '/healthz')).status).toBe(200);
  });
});
