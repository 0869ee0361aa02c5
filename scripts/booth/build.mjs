// build.mjs — build the browser bundles under web/static/dist/ (run by scripts/build-booth.sh,
// which installs the pinned esbuild of scripts/booth/package-lock.json first).
//
// Each entry module (web/static/{booth,owner,verify,staff}/*.js) becomes ONE minified ES
// module with everything it imports inlined — only the code actually used: the vendored noble
// modules carry /* @__PURE__ */ marks, so esbuild drops FROST, FFT, OPRF, hash-to-curve and
// montgomery (x25519) — named by the SHA-256 of its bytes (<name>.<16 hex>.js), with .gz and .br
// beside it (most compressed, deterministic).  A worker started from a sibling entry by
// new URL('./x.js', import.meta.url) is pointed at x.js's bundle.  Also written:
//   manifest.json  "booth/booth.js" → "dist/booth.<hash>.js", … (web/templating.asset reads it)
//   inputs.json    per entry: its file, and each source file in its import graph with its
//                  SHA-256 and the bytes it contributes (0 = tree-shaken away), esbuild's version
// Stylesheets (web/static/{css,booth,owner,verify,staff}/*.css) are minified the same way, one
// file each, url()s untouched (dist/ is as deep as their directories, so ../img/x still works).
// No syntax lowering (esbuild's default target): the bundle needs what the sources need.
// Usage: node scripts/booth/build.mjs <repo root> <esbuild module dir> [output dir, default web/static/dist]

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const [rootArg, esbuildDir, outArg] = process.argv.slice(2);
const root = rootArg && resolve(rootArg);
if (!root || !esbuildDir) throw new Error('usage: node build.mjs <repo root> <esbuild package dir>');
const esbuild = await import(pathToFileURL(join(esbuildDir, 'lib', 'main.js')).href);

const STATIC = join(root, 'web', 'static');
const DIST = outArg ? resolve(outArg) : join(STATIC, 'dist');  // another directory: --check
const ENTRY_DIRS = ['booth', 'owner', 'verify', 'staff'];  // ES modules
const CSS_DIRS = ['css', 'booth', 'owner', 'verify', 'staff'];  // stylesheets (minified, not bundled)

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const posix = (p) => p.split('\\').join('/');

// Entries: every .js directly in the entry directories (not the vendored code, not dist).
const entries = [];
for (const dir of ENTRY_DIRS) {
  const full = join(STATIC, dir);
  if (!existsSync(full)) continue;
  for (const name of readdirSync(full).sort()) {
    if (name.endsWith('.js')) entries.push(`${dir}/${name}`);
  }
}
for (const dir of CSS_DIRS) {
  const full = join(STATIC, dir);
  if (!existsSync(full)) continue;
  for (const name of readdirSync(full).sort()) {
    if (name.endsWith('.css')) entries.push(`${dir}/${name}`);
  }
}
const names = new Map();  // output base name per entry: "booth", or "owner-code" on a clash
for (const entry of entries) {
  const stem = (e) => e.slice(e.lastIndexOf('/') + 1).replace(/\.(js|css)$/, '');
  const kind = (e) => e.slice(e.lastIndexOf('.'));
  const clash = entries.filter((e) => stem(e) === stem(entry) && kind(e) === kind(entry)).length > 1;
  names.set(entry, clash ? entry.replace('/', '-').replace(/\.(js|css)$/, '') : stem(entry));
}

rmSync(DIST, { recursive: true, force: true });
mkdirSync(DIST, { recursive: true });

// A dynamic import of a local module — await import('../booth/gongjue-crypto.js') — becomes a
// static one in the bundle: its code is in the one file anyway, and esbuild cannot tree-shake
// a lazily initialised module (FROST, OPRF… would come back).  Only the entry modules' own
// files (not the vendored code) are rewritten; the module is then evaluated at load, not on use.
const DYNAMIC = /\bimport\(\s*(["'])(\.{1,2}\/[^"'\s]+\.js)\1\s*\)/g;
const staticDynamicImports = {
  name: 'static-dynamic-imports',
  setup(build) {
    build.onLoad({ filter: /[\\/]web[\\/]static[\\/](booth|owner|verify|staff)[\\/][^\\/]+\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const specs = [...new Set([...source.matchAll(DYNAMIC)].map((m) => m[2]))];
      if (specs.length === 0) return undefined;
      const head = specs.map((spec, i) => `import * as __gongjue_dyn${i} from ${JSON.stringify(spec)};`).join('');
      const body = source.replace(DYNAMIC, (all, q, spec) => `Promise.resolve(__gongjue_dyn${specs.indexOf(spec)})`);
      return { contents: head + body, loader: 'js' };
    });
  },
};

const manifest = {};
const inputs = { esbuild: esbuild.version, entries: {} };
const built = new Map();  // entry → {text, used}
for (const entry of entries) {
  const css = entry.endsWith('.css');
  const result = await esbuild.build({
    entryPoints: [join(STATIC, entry)],
    bundle: !css,                // a stylesheet keeps its url()s and @imports as written
    ...(css ? {} : { format: 'esm' }),
    minify: true,
    treeShaking: true,
    legalComments: 'eof',        // the noble MIT notices stay in the file
    charset: 'utf8',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: root,
    plugins: css ? [] : [staticDynamicImports],
    banner: { [css ? 'css' : 'js']: `/* 共决 Gongjue: web/static/${entry}, bundled by scripts/build-booth.sh (esbuild ${esbuild.version}); sources in dist/inputs.json */` },
  });
  if (result.outputFiles.length !== 1) throw new Error(`${entry}: expected one output file`);
  const output = Object.values(result.metafile.outputs)[0];
  const used = {};
  for (const source of Object.keys(result.metafile.inputs).sort()) {
    const path = posix(source);  // relative to absWorkingDir, the repository
    used[path] = { sha256: sha256(readFileSync(join(root, path))),
                   bytesInOutput: output.inputs[source]?.bytesInOutput ?? 0 };
  }
  built.set(entry, { text: Buffer.from(result.outputFiles[0].contents).toString('utf8'), used });
}

// A module that starts a worker from a sibling entry — new Worker(new URL('./x.js', import.meta.url))
// — gets the URL of that entry's bundle, so the worker is bundled too; the worker is named first.
const WORKER_URL = /new URL\((["'`])\.\/([\w.-]+\.js)\1,\s*import\.meta\.url\)/g;
const files = new Map();  // entry → dist file name
while (files.size < entries.length) {
  const before = files.size;
  for (const entry of entries) {
    if (files.has(entry)) continue;
    const { text, used } = built.get(entry);
    const dir = entry.slice(0, entry.indexOf('/') + 1);
    const refs = [...text.matchAll(WORKER_URL)].map((m) => dir + m[2]);
    const unknown = refs.filter((r) => !built.has(r));
    if (unknown.length) throw new Error(`${entry}: import.meta.url names ${unknown}, not an entry module`);
    if (!refs.every((r) => files.has(r))) continue;
    const final = text.replace(WORKER_URL, (all, q, name) => `new URL(${q}./${files.get(dir + name)}${q},import.meta.url)`);
    if (entry.endsWith('.css') && /url\(\s*['"]?(?!\.\.\/|\/|data:|#)/.test(final)) {
      console.warn(`warning: ${entry} has a url() relative to its own directory; it moves to dist/`);
    }
    if (final.replace(WORKER_URL, '').includes('import.meta.url')) {
      console.warn(`warning: ${entry} uses import.meta.url; relative URLs change in dist/`);
    }
    for (const r of refs) {  // the worker's sources decide this file's bytes too
      for (const [path, info] of Object.entries(built.get(r).used)) used[path] ??= { ...info, bytesInOutput: 0 };
    }
    const bytes = Buffer.from(final, 'utf8');
    const file = `${names.get(entry)}.${sha256(bytes).slice(0, 16)}${entry.slice(entry.lastIndexOf('.'))}`;
    files.set(entry, file);
    writeFileSync(join(DIST, file), bytes);
    const gz = gzipSync(bytes, { level: 9 });
    writeFileSync(join(DIST, `${file}.gz`), gz);
    writeFileSync(join(DIST, `${file}.br`), brotliCompressSync(bytes, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
                [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT },
    }));
    const sorted = Object.fromEntries(Object.entries(used).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    inputs.entries[entry] = { file: `dist/${file}`, bytes: bytes.length, inputs: sorted };
    console.log(`${entry.padEnd(28)} → dist/${file}  ${(bytes.length / 1024).toFixed(1)} KiB, `
      + `gzip ${(gz.length / 1024).toFixed(1)} KiB, ${Object.keys(used).length} sources`);
  }
  if (files.size === before) throw new Error('entries start each other as workers in a cycle');
}
for (const entry of entries) manifest[entry] = `dist/${files.get(entry)}`;
inputs.entries = Object.fromEntries(entries.map((e) => [e, inputs.entries[e]]));
writeFileSync(join(DIST, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
writeFileSync(join(DIST, 'inputs.json'), JSON.stringify(inputs, null, 2) + '\n');
