/**
 * The SDK's API reference (typedoc, packages/client/typedoc.json) builds without a warning: every
 * exported declaration, method and accessor has a doc comment, every type a public signature
 * names is exported, every `{@link}` resolves. A copy of the package with one undocumented
 * export shows the check fails when it should.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = join(ROOT, 'packages/client');
const TYPEDOC = [join(PACKAGE, 'node_modules/typedoc/bin/typedoc'), join(ROOT, 'node_modules/typedoc/bin/typedoc')].find((p) => existsSync(p));

interface Run {
  code: number;
  output: string;
}

function typedoc(cwd: string, out: string): Promise<Run> {
  return new Promise((resolve) => {
    const args = [TYPEDOC ?? 'typedoc', '--out', out, '--logLevel', 'Warn'];
    execFile(process.execPath, args, { cwd, timeout: 60_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: stdout + stderr });
    });
  });
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'parley-sdk-docs-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('SDK API reference', () => {
  it('is typedoc, a pinned devDependency of the package, run by npm run docs:sdk', () => {
    expect(TYPEDOC, 'typedoc is installed').toBeDefined();
    const pkg = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8'));
    expect(pkg.devDependencies.typedoc).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.scripts.docs).toBe('typedoc');
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(root.scripts['docs:sdk']).toContain('docs');
    const config = JSON.parse(readFileSync(join(PACKAGE, 'typedoc.json'), 'utf8'));
    expect(config).toMatchObject({ treatWarningsAsErrors: true, validation: { notDocumented: true, notExported: true, invalidLink: true } });
  });

  it('builds from the sources without a warning', async () => {
    const out = join(tmp, 'api');
    const run = await typedoc(PACKAGE, out);
    expect(run.output).not.toMatch(/warning|error/i);
    expect(run.code, run.output).toBe(0);
    const index = readFileSync(join(out, 'index.html'), 'utf8');
    expect(index).toContain('@parley-chat/client');
    expect(existsSync(join(out, 'classes', 'ParleyClient.html'))).toBe(true);
    expect(existsSync(join(out, 'functions', 'connect.html'))).toBe(true);
  }, 60_000);

  it('fails on an exported symbol without a doc comment', async () => {
    const copy = join(tmp, 'client');
    for (const f of ['package.json', 'tsconfig.json', 'typedoc.json', 'src']) cpSync(join(PACKAGE, f), join(copy, f), { recursive: true });
    appendFileSync(join(copy, 'src', 'index.ts'), '\nexport function undocumentedExport(): number {\n  return 1;\n}\n');
    const run = await typedoc(copy, join(tmp, 'api-bad'));
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/undocumentedExport .*does not have any documentation/);
  }, 60_000);
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function slug(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

describe('SDK README', () => {
  const readme = join(PACKAGE, 'README.md');
  const text = readFileSync(readme, 'utf8');

  it('is linked from the root README', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('](packages/client/README.md)');
  });

  it('covers installing, connecting, requests, events, reconnecting, presence, batching and errors', () => {
    const titles = [...text.matchAll(/^## (.+)$/gm)].map(([, t]) => t);
    expect(titles).toEqual(['Install', 'Connect', 'Join, send, and the other requests', 'Edits, deletes, reactions and threads', 'Events', 'Reconnecting and resuming', 'Presence in big rooms', 'Batched frames', 'Errors']);
    expect(text).toContain('npm install @parley-chat/client');
    for (const word of ['unauthorized', 'presenceDelta', 'batch=1', 'getToken', 'since']) expect(text, word).toContain(word);
  });

  it('links only to files and headings that exist', () => {
    const links = [...text.matchAll(/\]\((\.[^)#]*)(?:#([^)]+))?\)/g)].map(([, file, anchor]) => ({ file: resolve(dirname(readme), file ?? ''), anchor }));
    expect(links.length).toBeGreaterThan(3);
    for (const { file, anchor } of links) {
      expect(existsSync(file), file).toBe(true);
      if (anchor === undefined) continue;
      const anchors = [...readFileSync(file, 'utf8').matchAll(/^#+ (.+)$/gm)].map(([, t]) => slug(t ?? ''));
      expect(anchors, `${file}#${anchor}`).toContain(anchor);
    }
  });
});
