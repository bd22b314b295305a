#!/usr/bin/env node
// Bundles src/ into dist/: dist/assets/app-[hash].js and app-[hash].css (cache forever), and an
// unhashed dist/index.html that references them (revalidate on every load). Usage: node build.mjs
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(root, 'dist');
const assets = path.join(dist, 'assets');

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: 'src/main.js' },
  outdir: assets,
  entryNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome100', 'edge100', 'firefox100', 'safari15'],
  legalComments: 'eof', // keeps uPlot's licence banner
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((file) => path.resolve(root, file));
const find = (ext) => {
  const file = outputs.find((f) => f.endsWith(ext));
  if (!file) throw new Error(`esbuild produced no ${ext} file`);
  return file;
};
const js = find('.js');
const css = find('.css');

// index.html last, atomically, so a server reading dist/ never sees a page without its assets.
const template = await readFile(path.join(root, 'src/index.html'), 'utf8');
const html = template
  .replace('{{css}}', `assets/${path.basename(css)}`)
  .replace('{{js}}', `assets/${path.basename(js)}`);
await writeFile(path.join(dist, 'index.html.tmp'), html);
await rename(path.join(dist, 'index.html.tmp'), path.join(dist, 'index.html'));

// Drop assets of earlier builds.
for (const name of await readdir(assets)) {
  if (!outputs.includes(path.join(assets, name))) await rm(path.join(assets, name));
}

const rows = [path.join(dist, 'index.html'), js, css].map(async (file) => {
  const bytes = await readFile(file);
  return { file: path.relative(root, file), raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
});
const sizes = await Promise.all(rows);
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`.padStart(10);
for (const { file, raw, gzip } of sizes) console.log(`${file.padEnd(34)} ${kb(raw)} ${kb(gzip)} gzip`);
const total = sizes.reduce((a, s) => ({ raw: a.raw + s.raw, gzip: a.gzip + s.gzip }), { raw: 0, gzip: 0 });
console.log(`${'total'.padEnd(34)} ${kb(total.raw)} ${kb(total.gzip)} gzip`);
