/** The Node implementation of the platform seam. */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DAWN_TOGGLES } from './dawn-toggles.js';
import { locatePath } from './node-files.js';
import type { Platform } from './platform.js';
import { locateUrl } from './web-files.js';

let dawn: Promise<GPU | null> | null = null;

function nodeGpu(): Promise<GPU | null> {
  dawn ??= (async () => {
    try {
      const mod = (await import('webgpu')) as { create: (flags: string[]) => GPU; globals: object };
      // Dawn's constants (GPUBufferUsage, …) are not globals in Node until installed.
      Object.assign(globalThis, mod.globals);
      if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
      return mod.create(DAWN_TOGGLES);
    } catch {
      return null;
    }
  })();
  return dawn;
}

/** The built-in model's folder, found upward from this file (works from `src/` and `dist/`). */
function builtinModelFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'models', 'builtin');
    if (existsSync(join(candidate, 'config.json'))) return candidate;
  }
  throw new Error('the built-in model (models/builtin) is missing from this installation');
}

export const nodePlatform: Platform = {
  name: 'node',
  startWorker(body, data) {
    const w = new Worker(`(${body})(require('node:worker_threads').workerData)`, { eval: true, workerData: data });
    // an idle pool must not keep the process alive
    w.unref();
    return { terminate: () => void w.terminate() };
  },
  hardwareConcurrency: () => availableParallelism(),
  yieldToEventLoop: () => new Promise((r) => setImmediate(r)),
  env: (name) => process.env[name],
  gpu: () => {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    return nav?.gpu ? Promise.resolve(nav.gpu) : nodeGpu();
  },
  compileWasm: async (url) => WebAssembly.compile(await readFile(fileURLToPath(url))),
  compileWasmSync(url) {
    const path = fileURLToPath(url);
    return existsSync(path) ? new WebAssembly.Module(readFileSync(path)) : null;
  },
  locate: (location) => (/^https?:\/\//i.test(location) ? Promise.resolve(locateUrl(location)) : locatePath(location)),
  builtinModel: builtinModelFolder,
  async commonJsShims(pkg) {
    const require = createRequire(import.meta.url);
    return { require, __filename: require.resolve(pkg) };
  },
};
