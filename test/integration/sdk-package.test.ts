/**
 * The SDK as it ships: `npm pack` of packages/client from a copy without build output (so its
 * `prepack` builds it), the tarball's contents and size, then the tarball installed offline into
 * a scratch project, type-checked there, and used for a chat between two users on a real node.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestNode } from '../helpers/node.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = join(ROOT, 'packages/client');
const NAME = '@parley-chat/client';
/** The tarball is a few dozen KiB; the server's dependencies alone are over 100 MB. */
const MAX_TARBALL_BYTES = 64 * 1024;
const MAX_UNPACKED_BYTES = 256 * 1024;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with a deadline; npm's own variables of an enclosing `npm test` are dropped. */
function run(cmd: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}, timeout = 60_000): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^npm_/i.test(k)) env[k] = v;
  // The repository's TypeScript builds the package, as it would in a clone after `npm ci`.
  env.PATH = [join(ROOT, 'node_modules/.bin'), env.PATH ?? ''].join(delimiter);
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: { ...env, ...extraEnv }, timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      // A command that could not start or was killed at the deadline has no numeric exit code.
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && !stderr ? err.message : stderr });
    });
  });
}

function expectOk(r: Run, what: string): void {
  expect(r.code, `${what} failed:\n${r.stderr}\n${r.stdout}`).toBe(0);
}

let tmp: string;
let tarball: string;
let entries: string[];
let node: TestNode;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'parley-sdk-pack-'));
  // A clean copy: what a clone holds, without dist/, docs/api/ or node_modules/.
  const copy = join(tmp, 'client');
  cpSync(PACKAGE, copy, {
    recursive: true,
    filter: (src) => !/^(dist|docs|node_modules)(\/|$)/.test(relative(PACKAGE, src)),
  });
  expect(existsSync(join(copy, 'dist'))).toBe(false);
  const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], copy);
  expectOk(packed, 'npm pack');
  const [info] = JSON.parse(packed.stdout) as [{ filename: string; size: number; unpackedSize: number }];
  tarball = join(tmp, info.filename);
  expect(info.size).toBeLessThan(MAX_TARBALL_BYTES);
  expect(info.unpackedSize).toBeLessThan(MAX_UNPACKED_BYTES);
  const listed = await run('tar', ['-tzf', tarball], tmp);
  expectOk(listed, 'tar -t');
  entries = listed.stdout.split('\n').filter(Boolean).sort();
  node = await startNode();
}, 120_000);

afterAll(async () => {
  await node?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe(`npm pack of ${NAME}`, () => {
  it('holds the built modules with their declarations, its package.json and README, and nothing else', () => {
    expect(entries.every((e) => e.startsWith('package/'))).toBe(true);
    const files = entries.map((e) => e.slice('package/'.length));
    const modules = readdirSync(join(PACKAGE, 'src'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.slice(0, -'.ts'.length));
    expect(modules).toContain('index');
    const expected = ['README.md', 'package.json', ...modules.flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`])].sort();
    expect(files).toEqual(expected);
    // So no server source or build (src/, dist/cli.js, gateway/...), no SDK source, no maps.
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });
});

describe(`${NAME} installed from its tarball`, () => {
  let scratch: string;
  let installed: string;

  beforeAll(async () => {
    scratch = join(tmp, 'scratch');
    mkdirSync(scratch);
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    // Offline: the SDK has no dependencies to fetch.
    const install = await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', tarball], scratch);
    expectOk(install, 'npm install <tarball>');
    installed = join(scratch, 'node_modules', NAME);
  }, 120_000);

  it('is a real copy with no dependencies, ESM, with types and default exports', () => {
    expect(lstatSync(installed).isSymbolicLink()).toBe(false);
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: NAME, type: 'module', license: 'MIT', exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } } });
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(pkg.engines?.node).toBeTruthy();
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies']) expect(pkg[field], field).toBeUndefined();
    expect(readdirSync(join(scratch, 'node_modules')).filter((d) => !d.startsWith('.'))).toEqual(['@parley-chat']);
    // Each module imports only its siblings (static imports and re-exports; nothing dynamic).
    const dist = join(installed, 'dist');
    const specifiers: string[] = [];
    for (const file of readdirSync(dist)) {
      const text = readFileSync(join(dist, file), 'utf8');
      specifiers.push(...[...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? ''));
      expect(text, file).not.toMatch(/\bimport\s*\(|\brequire\s*\(/);
    }
    expect(specifiers).toContain('./client.js');
    for (const s of specifiers) expect(s).toMatch(/^\.\/[\w.-]+\.js$/);
  });

  it('type-checks a consumer under strict NodeNext against the shipped declarations', async () => {
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2023', lib: ['ES2023', 'DOM'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] },
        files: ['check.ts'],
      }),
    );
    writeFileSync(
      join(scratch, 'check.ts'),
      [
        "import { connect, ParleyClientError, CloseCode } from '@parley-chat/client';",
        "import type { ChatMessage, ClientState, ParleyClient, SendReply } from '@parley-chat/client';",
        "const client: ParleyClient = connect('ws://127.0.0.1:1', { getToken: async () => 't' }, { presence: 'delta' });",
        "client.on('msg', (m: ChatMessage) => m.seq.toFixed());",
        "const state: ClientState = client.state;",
        "const sent: Promise<SendReply> = client.send('room', 'body');",
        'const code: 4001 = CloseCode.UNAUTHORIZED;',
        "const isRetryable = (e: unknown): boolean => e instanceof ParleyClientError && e.code === 'unauthorized' && e.retryable;",
        '// @ts-expect-error: a body is a string (fails if the declarations were missing or `any`)',
        "void client.send('room', 42);",
        'export { state, sent, code, isRetryable };',
      ].join('\n'),
    );
    const tsc = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', scratch], scratch);
    expectOk(tsc, 'tsc in the scratch project');
  }, 60_000);

  it('lets two users chat on a real node, and reports a refused token as unauthorized', async () => {
    writeFileSync(
      join(scratch, 'chat.mjs'),
      `import { connect, ParleyClientError } from '@parley-chat/client';
const { default: WebSocket } = await import(process.env.WS_MODULE);
const url = process.env.PARLEY_URL;
const room = 'pack-lobby';
const alice = connect(url, { token: process.env.TOKEN_A }, { WebSocket });
const bob = connect(url, { getToken: async () => process.env.TOKEN_B }, { WebSocket });
await alice.join(room);
await bob.join(room);
const received = new Promise((resolve) => bob.on('msg', (m) => m.room === room && resolve(m)));
const reply = await alice.send(room, 'hello from the tarball');
const msg = await received;
const refused = connect(url, { token: 'not-a-token' }, { WebSocket });
const error = await refused.join(room).then(() => null, (e) => e);
console.log(JSON.stringify({ reply, msg, state: alice.state, error: { isClientError: error instanceof ParleyClientError, code: error?.code, closeCode: error?.closeCode } }));
await Promise.all([alice.close(), bob.close(), refused.close()]);
`,
    );
    const ws = pathToFileURL(createRequire(import.meta.url).resolve('ws')).href;
    const env = { WS_MODULE: ws, PARLEY_URL: node.wsUrl, TOKEN_A: await node.token('pack-alice'), TOKEN_B: await node.token('pack-bob') };
    const chat = await run(process.execPath, ['chat.mjs'], scratch, env, 15_000);
    expectOk(chat, 'the chat script');
    const out = JSON.parse(chat.stdout.trim().split('\n').at(-1) ?? 'null');
    expect(out.reply).toMatchObject({ room: 'pack-lobby', seq: 1, dup: false });
    expect(out.msg).toMatchObject({ room: 'pack-lobby', seq: 1, from: 'pack-alice', body: 'hello from the tarball', cid: out.reply.cid });
    expect(out.state).toBe('open');
    expect(out.error).toEqual({ isClientError: true, code: 'unauthorized', closeCode: 4001 });
  }, 30_000);
});
