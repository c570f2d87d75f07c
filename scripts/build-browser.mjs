#!/usr/bin/env node
/**
 * Builds the browser bundle: src/browser.ts → dist/browser/tessera.js (one ESM file), with the CPU
 * kernels (wasm/kernels.wasm) beside it, and prints the sizes.
 *
 * The platform seam is chosen here: every import of src/platform/current.ts resolves to
 * src/platform/browser.ts, so no Node module enters the bundle (esbuild fails the build if one is
 * reached: `platform: 'browser'` leaves `node:*` unresolvable).
 *
 *   node scripts/build-browser.mjs [--outdir dist/browser] [--no-minify]
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
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
 * @param {{ outdir?: string, minify?: boolean, log?: (line: string) => void }} [options]
 * @returns {Promise<{ file: string, bytes: number, gzipBytes: number, wasm: string | null }>}
 */
export async function buildBrowserBundle(options = {}) {
  const outdir = resolve(root, options.outdir ?? 'dist/browser');
  const file = join(outdir, 'tessera.js');
  mkdirSync(outdir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(root, 'src/browser.ts')],
    outfile: file,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    // module-level await (the GPU entry, model loads) needs ES2022 modules
    supported: { 'top-level-await': true },
    plugins: [browserPlatform],
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
  const log = options.log ?? console.log;
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  log(`${file}: ${kib(bytes)} (${kib(gzipBytes)} gzipped)`);
  if (wasm) log(`${wasm}: ${kib(statSync(wasm).size)}`);
  else log(`CPU kernels not built (${wasmSrc} missing: run 'npm run build:wasm'); the bundle runs WebGPU only`);
  return { file, bytes, gzipBytes, wasm };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--outdir');
  await buildBrowserBundle({ outdir: at >= 0 ? args[at + 1] : undefined, minify: !args.includes('--no-minify') });
}
