/**
 * A static file server for page tests: files by URL path under a set of mounts, HTTP Range requests
 * (206), and the cross-origin isolation headers that SharedArrayBuffer and shared WebAssembly
 * memory (the CPU backend's threads) need in a browser.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

export interface StaticServer {
  readonly url: string;
  /** Range requests answered, by path: the loader read tensors by range, not whole files. */
  readonly ranges: Map<string, number>;
  /** Every request, ranged or not, by path: a cached load makes none for the model's files. */
  readonly requests: Map<string, number>;
  close(): Promise<void>;
}

/** `mounts`: URL prefix ('/models/') → folder; `pages`: exact URL path → content type and body. */
export async function startStaticServer(
  mounts: Readonly<Record<string, string>>,
  pages: Readonly<Record<string, { type: string; body: string }>> = {},
  /** false: no COOP/COEP headers, as a page served without them (no SharedArrayBuffer). */
  options: { crossOriginIsolated?: boolean } = {},
): Promise<StaticServer> {
  const ranges = new Map<string, number>();
  const requests = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    if (options.crossOriginIsolated !== false) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    res.setHeader('Accept-Ranges', 'bytes');
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const page = pages[path];
    if (page !== undefined) {
      res.setHeader('Content-Type', page.type);
      res.end(page.body);
      return;
    }
    const prefix = Object.keys(mounts).find((p) => path.startsWith(p));
    const rel = prefix === undefined ? null : normalize(path.slice(prefix.length));
    if (prefix === undefined || rel === null || rel.startsWith('..')) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const file = join(mounts[prefix]!, rel);
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(size - 1, m[2] ? Number(m[2]) : size - 1);
      if (start >= size || end < start) {
        res.statusCode = 416;
        res.setHeader('Content-Range', `bytes */${size}`);
        res.end();
        return;
      }
      ranges.set(path, (ranges.get(path) ?? 0) + 1);
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
      res.setHeader('Content-Length', end - start + 1);
      createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.setHeader('Content-Length', size);
    createReadStream(file).pipe(res);
  });
  // fetch reuses idle connections; Node's 5 s default lets the server close one as a request starts on it
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    // localhost, not 127.0.0.1: a secure context, which navigator.gpu requires
    url: `http://localhost:${port}`,
    ranges,
    requests,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}
