#!/usr/bin/env node
// Builds the demo chat page into web/dist/ (served at `/` in dev mode, src/admin/dev.ts):
// web/src/main.ts bundled for browsers (ES2020, with the SDK from packages/client/src/) into app.js
// plus its source map, and web/index.html and web/style.css copied. Each file is written to a
// temporary name and renamed, so a server reading web/dist/ meanwhile never sees half a file.
// Run by `npm run build` (so by `npm start`), and by the browser tests before they start.
/* global URL, process, console */
import { build } from 'esbuild';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const web = join(root, 'web');
const out = join(web, 'dist');
const STATIC = ['index.html', 'style.css'];

async function writeAtomic(file, contents) {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, contents);
  await rename(tmp, file);
}

await mkdir(out, { recursive: true });
const result = await build({
  entryPoints: [join(web, 'src', 'main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'es2020',
  sourcemap: true,
  write: false,
  logLevel: 'warning',
});
for (const file of result.outputFiles) await writeAtomic(file.path, file.contents);
for (const name of STATIC) await writeAtomic(join(out, name), await readFile(join(web, name)));

const sizes = [...result.outputFiles].sort((a, b) => a.path.localeCompare(b.path)).map((f) => `${basename(f.path)} ${(f.contents.byteLength / 1024).toFixed(1)} KiB`);
console.log(`web: built ${[...sizes, ...STATIC].join(', ')} into web/dist/`);
