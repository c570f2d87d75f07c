/**
 * What differs between Node and a browser, behind one interface: where files come from, how worker
 * threads start, how the WebGPU entry point is reached, how WebAssembly is fetched. `current.ts`
 * names the implementation of a build (Node's; the browser bundle swaps in `browser.ts`), and code
 * under src/ reaches the runtime only through it (`npm run lint` checks that no other module imports
 * `node:*`).
 */
import type { Located } from './byte-source.js';

/** A started worker thread. */
export interface WorkerHandle {
  terminate(): void;
}

export interface Platform {
  readonly name: 'node' | 'browser';
  /**
   * Starts a worker running `body`, the source text of a function `(data) => void`, called once with
   * `data` (structured-cloned: SharedArrayBuffers, shared WebAssembly memories and compiled modules
   * pass by reference). The body must be self-contained: it sees no module scope. A worker never
   * keeps a Node process alive.
   */
  startWorker(body: string, data: unknown): WorkerHandle;
  /** Logical cores. */
  hardwareConcurrency(): number;
  /**
   * Resolves after pending events (I/O, messages, timers due) have had their turn, at once otherwise:
   * the engine yields this way between steps. Not `setTimeout(0)`, which browsers clamp to 4 ms once
   * chained, a pause on every token.
   */
  yieldToEventLoop(): Promise<void>;
  /** A configuration variable (`TESSERA_THREADS`, …): the environment in Node, none in a browser. */
  env(name: string): string | undefined;
  /** The WebGPU entry point (`navigator.gpu`; Dawn through the `webgpu` package in Node), or null. */
  gpu(): Promise<GPU | null>;
  /** Compiles a WebAssembly file shipped beside the code (a file in Node, a fetch in a browser). */
  compileWasm(url: URL): Promise<WebAssembly.Module>;
  /** The same synchronously where the runtime can (Node); null where it cannot (a browser). */
  compileWasmSync(url: URL): WebAssembly.Module | null;
  /** A location the user gave (a path, a URL), as a folder and the file it named, if any. */
  locate(location: string): Promise<Located>;
  /** The location of the built-in model shipped with the package. */
  builtinModel(): string;
  /**
   * The CommonJS globals (`require`, `__filename`) that the UMD package `pkg` reaches for while it
   * loads under Node's ESM loader; none in a browser, where a bundler wraps the package itself.
   */
  commonJsShims(pkg: string): Promise<Record<string, unknown>>;
}
