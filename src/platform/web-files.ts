/**
 * File access over web APIs only (`fetch`, `Blob`): a model at a URL, read with HTTP Range requests
 * so a checkpoint streams tensor by tensor, or user-picked files (`<input type=file>`, drag and
 * drop). Node has both APIs too, so these run (and are tested) there as well.
 */
import {
  baseName,
  type ByteProgress,
  type ByteSource,
  type Folder,
  type Located,
  NotFoundError,
} from './byte-source.js';

export interface WebFileOptions {
  /** Called after each range arrives: the download's progress, file by file. */
  readonly onProgress?: (p: ByteProgress) => void;
  /** The fetch to use (default: the global one); tests and service workers pass their own. */
  readonly fetch?: typeof fetch;
}

/** A `Blob` or `File` as a byte source: `slice()` reads a range without reading the rest. */
export function blobSource(blob: Blob, name: string, options: WebFileOptions = {}): ByteSource {
  let loaded = 0;
  return {
    name,
    size: blob.size,
    async read(position, target) {
      const end = Math.min(blob.size, position + target.byteLength);
      if (position >= end) return 0;
      const bytes = new Uint8Array(await blob.slice(position, end).arrayBuffer());
      target.set(bytes);
      loaded += bytes.byteLength;
      options.onProgress?.({ file: name, loaded, total: blob.size });
      return bytes.byteLength;
    },
    close: async () => {},
  };
}

/** Total size from a `Content-Range: bytes 0-0/12345` header, or null. */
function totalFromContentRange(header: string | null): number | null {
  const m = header === null ? null : /\/(\d+)\s*$/.exec(header);
  return m ? Number(m[1]) : null;
}

/**
 * A file at `url` as a byte source, or null when the server answers 404. Its size comes from a
 * one-byte Range request (a HEAD answer may lack Content-Length behind compression); a server that
 * ignores Range (status 200 to a ranged request) is refused, since reading a 2 GB checkpoint
 * tensor by tensor would then download it once per tensor.
 */
export async function urlSource(url: string, options: WebFileOptions = {}): Promise<ByteSource | null> {
  const get = options.fetch ?? fetch;
  const probe = await get(url, { headers: { Range: 'bytes=0-0' } });
  if (probe.status === 404) return null;
  if (!probe.ok) throw new Error(`${url}: HTTP ${probe.status} ${probe.statusText}`);
  const total = probe.status === 206 ? totalFromContentRange(probe.headers.get('content-range')) : Number.NaN;
  await probe.body?.cancel();
  if (probe.status !== 206 || total === null) {
    throw new Error(
      `${url}: the server does not answer HTTP Range requests (status ${probe.status}); serve the model from one that does (any static file server, a CDN, the Hugging Face hub)`,
    );
  }
  let loaded = 0;
  return {
    name: url,
    size: total,
    async read(position, target) {
      const end = Math.min(total, position + target.byteLength);
      if (position >= end) return 0;
      const res = await get(url, { headers: { Range: `bytes=${position}-${end - 1}` } });
      if (res.status !== 206)
        throw new Error(`${url}: HTTP ${res.status} to a Range request for bytes ${position}-${end - 1}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.byteLength !== end - position) {
        throw new Error(
          `${url}: asked for ${end - position} bytes at ${position}, the server sent ${bytes.byteLength}`,
        );
      }
      target.set(bytes);
      loaded += bytes.byteLength;
      options.onProgress?.({ file: url, loaded, total });
      return bytes.byteLength;
    },
    close: async () => {},
  };
}

/** The page's (or worker's) URL, against which relative URLs resolve; none in Node. */
const pageUrl = (): string | undefined => (globalThis as { location?: { href: string } }).location?.href;

/**
 * The files under a base URL ('https://host/models/builtin/', or '/models/builtin/' relative to the
 * page); listing is impossible, so `list()` is null.
 */
export function urlFolder(base: string | URL, options: WebFileOptions = {}): Folder {
  const root = new URL(base.toString().endsWith('/') ? base.toString() : `${base}/`, pageUrl());
  const locate = (name: string) => new URL(name, root).toString();
  return {
    location: root.toString(),
    locate,
    list: async () => null,
    open: (name) => urlSource(locate(name), options),
    async readText(name) {
      const res = await (options.fetch ?? fetch)(locate(name));
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`${locate(name)}: HTTP ${res.status} ${res.statusText}`);
      return res.text();
    },
  };
}

/**
 * User-picked files as one model folder: a `FileList` or array of `File`s (named by `file.name`), or
 * a record of names to blobs.
 *
 * @example
 * input.onchange = async () => { const model = await loadModel(blobFolder(input.files!)); };
 */
export function blobFolder(
  files: Iterable<File> | ArrayLike<File> | Readonly<Record<string, Blob>>,
  options: WebFileOptions & { readonly location?: string } = {},
): Folder {
  const byName = new Map<string, Blob>();
  const list = Symbol.iterator in files || 'length' in files ? Array.from(files as ArrayLike<File>) : null;
  if (list) for (const f of list) byName.set(baseName(f.name), f);
  else for (const [name, blob] of Object.entries(files as Record<string, Blob>)) byName.set(name, blob);
  const location = options.location ?? 'picked files';
  const locate = (name: string) => `${location}: ${name}`;
  return {
    location,
    locate,
    list: async () => [...byName.keys()],
    open: async (name) => {
      const blob = byName.get(name);
      return blob ? blobSource(blob, locate(name), options) : null;
    },
    readText: async (name) => (byName.has(name) ? byName.get(name)!.text() : null),
  };
}

/** Names with an extension are files; anything else (or a trailing '/') is a folder. */
const FILE_NAME = /\.(gguf|safetensors|json)$/i;

/** A URL location: a folder URL, or a file URL within its folder. */
export function locateUrl(location: string | URL, options: WebFileOptions = {}): Located {
  const url = new URL(location.toString());
  const name = baseName(url.pathname);
  if (!url.pathname.endsWith('/') && FILE_NAME.test(name)) {
    return { folder: urlFolder(new URL('.', url), options), file: name };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new NotFoundError(url.toString());
  }
  return { folder: urlFolder(url, options), file: null };
}
