#!/usr/bin/env node
/**
 * Builds the browser bundle: src/browser.ts → dist/browser/tessera.js (ESM), chunks loaded on first
 * use beside it (structured output's grammar service: xgrammar, ~1 MiB with its WebAssembly inline),
 * the CPU kernels in wasm/kernels.wasm, and prints the sizes. Chunks sit in the same folder as
 * tessera.js, so `import.meta.url` locates the same files from either.
 *
 * The platform seam is chosen here: every import of src/platform/current.ts resolves to
 * src/platform/browser.ts, so no Node module enters the bundle (esbuild fails the build if one is
 * reached: `platform: 'browser'` leaves `node:*` unresolvable).
 *
 *   node scripts/build-browser.mjs [--outdir dist/browser] [--no-minify]
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Resolves src/platform/current(.js|.ts) to the browser implementation. */
const browserPlatform = {
  name: 'browser-platform',
  setup(build) {
    build.onResolve({ filter: /(^|\/)current\.js$/ }, (args) => {
      const target = resolve(args.resolveDir, args.path);
      if (target !== join(root, 'src/platform/current.js')) return undefined;
      return { path: join(root, 'src/platform/browser-current.ts') };
    });
  },
};

/**
 * xgrammar's Emscripten loader names Node's `url` and `module` in branches that run only under Node;
 * left unresolved for that package alone, so any other module reaching a Node built-in still fails.
 */
const xgrammarNodeBranches = {
  name: 'xgrammar-node-branches',
  setup(build) {
    build.onResolve({ filter: /^(url|module)$/ }, (args) =>
      /[\\/]@mlc-ai[\\/]web-xgrammar[\\/]/.test(args.importer) ? { path: args.path, external: true } : undefined,
    );
  },
};

/**
 * @param {{ outdir?: string, minify?: boolean, log?: (line: string) => void }} [options]
 * @returns {Promise<{ file: string, bytes: number, gzipBytes: number, chunkBytes: number, chunkGzipBytes: number, wasm: string | null }>}
 */
export async function buildBrowserBundle(options = {}) {
  const outdir = resolve(root, options.outdir ?? 'dist/browser');
  const file = join(outdir, 'tessera.js');
  mkdirSync(outdir, { recursive: true });
  for (const old of readdirSync(outdir)) if (/^chunk-.*\.js(\.map)?$/.test(old)) rmSync(join(outdir, old));
  const result = await esbuild.build({
    entryPoints: { tessera: join(root, 'src/browser.ts') },
    outdir,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    metafile: true,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    // module-level await (the GPU entry, model loads) needs ES2022 modules
    supported: { 'top-level-await': true },
    plugins: [browserPlatform, xgrammarNodeBranches],
    logLevel: 'warning',
    // The `webgpu` package is Node's GPU entry point; it is imported only by src/platform/node.ts.
    external: ['webgpu'],
  });
  const wasmSrc = join(root, 'src/backends/cpu/wasm/kernels.wasm');
  let wasm = null;
  if (existsSync(wasmSrc)) {
    mkdirSync(join(outdir, 'wasm'), { recursive: true });
    wasm = join(outdir, 'wasm/kernels.wasm');
    copyFileSync(wasmSrc, wasm);
  }
  const bytes = statSync(file).size;
  const gzipBytes = gzipSync(readFileSync(file)).byteLength;
  const chunks = Object.keys(result.metafile.outputs).filter((o) => /chunk-[^/]*\.js$/.test(o));
  const chunkBytes = chunks.reduce((a, c) => a + statSync(resolve(root, c)).size, 0);
  const chunkGzipBytes = chunks.reduce((a, c) => a + gzipSync(readFileSync(resolve(root, c))).byteLength, 0);
  const log = options.log ?? console.log;
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  log(`${file}: ${kib(bytes)} (${kib(gzipBytes)} gzipped)`);
  log(`${chunks.length} chunks loaded on first use: ${kib(chunkBytes)} (${kib(chunkGzipBytes)} gzipped)`);
  if (wasm) log(`${wasm}: ${kib(statSync(wasm).size)}`);
  else log(`CPU kernels not built (${wasmSrc} missing: run 'npm run build:wasm'); the bundle runs WebGPU only`);
  return { file, bytes, gzipBytes, chunkBytes, chunkGzipBytes, wasm };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--outdir');
  await buildBrowserBundle({ outdir: at >= 0 ? args[at + 1] : undefined, minify: !args.includes('--no-minify') });
}
