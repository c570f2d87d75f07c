/**
 * The browser implementation of the platform seam: Web Workers, `navigator.gpu`, `fetch`. Locations
 * are URLs, relative ones resolved against the page.
 */
import type { Platform } from './platform.js';
import { locateUrl } from './web-files.js';

interface BrowserGlobals {
  navigator?: { gpu?: GPU; hardwareConcurrency?: number };
  location?: { href: string };
}
const g = globalThis as BrowserGlobals;

/** The page's URL (or the worker's), against which relative locations resolve. */
const pageUrl = () => g.location?.href ?? 'http://localhost/';

/** A message to itself: a task after those already queued, with no timer clamp. */
let yieldChannel: MessageChannel | null = null;
const waiting: (() => void)[] = [];
function yieldToEventLoop(): Promise<void> {
  if (!yieldChannel) {
    yieldChannel = new MessageChannel();
    yieldChannel.port1.onmessage = () => waiting.shift()?.();
  }
  const done = new Promise<void>((r) => waiting.push(r));
  yieldChannel.port2.postMessage(null);
  return done;
}

export const browserPlatform: Platform = {
  name: 'browser',
  startWorker(body, data) {
    // A worker from source text (a Blob URL), so the bundle needs no second file; it runs `body` on
    // the first message, which carries `data` (shared memories pass by reference).
    const source = `self.onmessage = (e) => { self.onmessage = null; (${body})(e.data); };`;
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const w = new Worker(url);
    URL.revokeObjectURL(url);
    w.postMessage(data);
    return { terminate: () => w.terminate() };
  },
  hardwareConcurrency: () => g.navigator?.hardwareConcurrency ?? 1,
  yieldToEventLoop,
  env: () => undefined,
  gpu: async () => g.navigator?.gpu ?? null,
  async compileWasm(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    // compileStreaming wants the application/wasm type; a server that sends another gets the slow path
    return res.headers.get('content-type')?.startsWith('application/wasm')
      ? WebAssembly.compileStreaming(res)
      : WebAssembly.compile(await res.arrayBuffer());
  },
  compileWasmSync: () => null,
  locate: async (location) => locateUrl(new URL(location, pageUrl())),
  // The bundle sits in dist/browser/ of the package; the model in models/builtin/ beside dist/.
  builtinModel: () => new URL('../../models/builtin/', import.meta.url).toString(),
  commonJsShims: async () => ({}),
};
