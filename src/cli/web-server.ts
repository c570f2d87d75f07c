/**
 * The static server behind `tessera web`: the demo page at `/`, the browser bundle under
 * `/tessera/`, a model folder under `/models/<name>/` (HTTP Range requests, which the browser's
 * loader reads tensor by tensor), every answer with the cross-origin isolation headers that the CPU
 * backend's shared WebAssembly memory needs in a page. Paths outside the two folders are refused.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { webPageHtml } from './web-page.js';

export interface WebServerOptions {
  /** The folder holding tessera.js (and wasm/kernels.wasm): dist/browser in the package. */
  readonly bundleDir: string;
  readonly modelDir: string;
  /** The model's name in its URL (`/models/<name>/`). */
  readonly modelName?: string;
  readonly host?: string;
  /** 0: any free port. */
  readonly port?: number;
}

export interface WebServer {
  readonly url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.jinja': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** `rel` inside `dir`, or null for paths that climb out of it. */
function inside(dir: string, rel: string): string | null {
  const file = normalize(join(dir, rel));
  return file === dir || file.startsWith(dir.endsWith(sep) ? dir : dir + sep) ? file : null;
}

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const modelName = o.modelName ?? 'builtin';
  const mounts: [string, string][] = [
    ['/tessera/', normalize(o.bundleDir)],
    [`/models/${modelName}/`, normalize(o.modelDir)],
  ];
  const page = webPageHtml({ bundleUrl: '/tessera/tessera.js', modelUrl: `/models/${modelName}/` });
  const server = createServer((req, res) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Accept-Ranges', 'bytes');
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/' || path === '/index.html') {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(page);
      return;
    }
    const mount = mounts.find(([prefix]) => path.startsWith(prefix));
    const file = mount ? inside(mount[1], path.slice(mount[0].length)) : null;
    let size = -1;
    try {
      if (file && statSync(file).isFile()) size = statSync(file).size;
    } catch {
      // missing: 404 below
    }
    if (file === null || size < 0) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (!m) {
      res.setHeader('Content-Length', size);
      createReadStream(file).pipe(res);
      return;
    }
    const start = Number(m[1]);
    const end = Math.min(size - 1, m[2] ? Number(m[2]) : size - 1);
    if (start >= size || end < start) {
      res.statusCode = 416;
      res.setHeader('Content-Range', `bytes */${size}`);
      res.end();
      return;
    }
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    res.setHeader('Content-Length', end - start + 1);
    createReadStream(file, { start, end }).pipe(res);
  });
  // the loader's ranged fetches reuse connections; Node's 5 s default may close one as a request starts on it
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', ok);
  });
  const { port } = server.address() as AddressInfo;
  // localhost is a secure context, which navigator.gpu and OPFS require; 127.0.0.1 is one too, other hosts need HTTPS
  const host = !o.host || o.host === '127.0.0.1' || o.host === '0.0.0.0' ? 'localhost' : o.host;
  return {
    url: `http://${host}:${port}/`,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}
