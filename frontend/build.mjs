// Bundles the console and the SDK into the Python package's static folder (no CDN at run time).
// `node build.mjs` (run by `make assets`); prints each file's size, raw and gzipped.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'infotrack', 'console', 'static', 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  legalComments: 'linked',
  target: 'es2020', // browsers of 2020 on: Chrome/Edge 80, Firefox 78, Safari 14
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: {
    console: join(here, 'src', 'console', 'main.js'),
    'demo-crm': join(here, 'src', 'demo-crm.js'),
  },
  outdir: out,
  format: 'iife',
  sourcemap: 'linked',
});
// The bundled CJK font is served by the app itself (console/router.py), not copied here.
await build({
  ...common,
  entryPoints: [join(here, 'src', 'console', 'console.css')],
  outdir: out,
  external: ['*.ttf'],
});
// The SDK: one file with no dependencies, a global `InfoTrack`, for CRM pages of any vintage.
await build({
  ...common,
  entryPoints: { tracker: join(here, 'src', 'tracker.js') },
  outdir: out,
  format: 'iife',
  target: 'es2017', // the SDK is ES5 plus fetch and Promise: old CRM pages too
});

for (const name of ['console.js', 'console.css', 'demo-crm.js', 'tracker.js']) {
  const bytes = readFileSync(join(out, name));
  const kb = (n) => (n / 1024).toFixed(1) + ' KB';
  console.log(`${name.padEnd(12)} ${kb(bytes.length).padStart(9)}  gzip ${kb(gzipSync(bytes).length)}`);
}
