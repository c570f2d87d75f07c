/**
 * A model folder cached in the browser's Origin Private File System: the first load downloads
 * each file once, whole, and stores it with its size and SHA-256 in a small manifest; later loads
 * read the stored copy (no network) after checking both against the manifest; files the source
 * lacks are recorded as absent, so a cached load asks the network nothing. A file that fails
 * the check (truncated write, storage corruption, a manifest from an older copy) is downloaded
 * again. Web APIs only (`navigator.storage`, `crypto.subtle`); in Node, `opfsAvailable()` is false.
 *
 * Files are hashed whole, in memory (SubtleCrypto has no incremental digest), so a file must fit
 * in memory once beside the model: right for the built-in model and small checkpoints.
 */
import { blobSource } from './web-files.js';
import type { ByteProgress, ByteSource, Folder } from './byte-source.js';

/** What the manifest records of each cached file. */
export interface CachedFileEntry {
  readonly size: number;
  /** Lowercase hex. */
  readonly sha256: string;
}

interface Manifest {
  version: 1;
  /** The folder the files came from (its URL). */
  source: string;
  files: Record<string, CachedFileEntry>;
  /** Names the source answered 'no such file' for (optional files a loader probes), so a cached load asks nothing. */
  absent: string[];
}

/** One file's fate in a load: served from the cache, or fetched (and why). */
export interface CacheEvent {
  readonly file: string;
  readonly hit: boolean;
  /** Why a fetch: 'not cached', or the integrity check that failed. */
  readonly reason?: string;
}

export interface OpfsCacheOptions {
  /** The cache's folder under the origin's root (default: derived from the source folder's URL). */
  readonly name?: string;
  readonly onEvent?: (e: CacheEvent) => void;
  /** Download progress of files not yet cached. */
  readonly onProgress?: (p: ByteProgress) => void;
}

const MANIFEST = 'manifest.json';
/** Bytes per read while downloading a file to cache: a progress report per piece. */
const PIECE = 8 * 2 ** 20;

type StorageScope = { navigator?: { storage?: { getDirectory?: () => Promise<FileSystemDirectoryHandle> } } };

/** Whether this context has the Origin Private File System. */
export function opfsAvailable(): boolean {
  return typeof (globalThis as StorageScope).navigator?.storage?.getDirectory === 'function';
}

async function sha256Hex(bytes: BufferSource): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The cache folder's name for a source URL: readable prefix, hash suffix (names must be short and unique). */
async function cacheName(source: string): Promise<string> {
  const tail = source.replace(/\/+$/, '').split('/').pop() ?? 'model';
  const hash = (await sha256Hex(new TextEncoder().encode(source))).slice(0, 16);
  return `${tail.replace(/[^A-Za-z0-9._-]/g, '_')}-${hash}`;
}

async function readWhole(src: ByteSource, onProgress?: (p: ByteProgress) => void): Promise<Uint8Array> {
  const bytes = new Uint8Array(src.size);
  for (let at = 0; at < src.size; ) {
    const n = await src.read(at, bytes.subarray(at, Math.min(src.size, at + PIECE)));
    if (n === 0) throw new Error(`${src.name}: ended at byte ${at} of ${src.size}`);
    at += n;
    onProgress?.({ file: src.name, loaded: at, total: src.size });
  }
  return bytes;
}

/** The manifest stored in `dir` for `source`, or an empty one (none yet, unreadable, or another source's). */
async function readManifest(dir: FileSystemDirectoryHandle, source: string): Promise<Manifest> {
  try {
    const text = await (await (await dir.getFileHandle(MANIFEST)).getFile()).text();
    const read = JSON.parse(text) as Manifest;
    if (read.version === 1 && read.source === source) return { ...read, absent: read.absent ?? [] };
  } catch {
    // no manifest yet (or an unreadable one): start empty
  }
  return { version: 1, source, files: {}, absent: [] };
}

/** One cache folder and its manifest: checked reads of stored copies, and stores that update the manifest. */
class OpfsStore {
  /** Manifest writes run one at a time, in order, whatever order the files finish in. */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: FileSystemDirectoryHandle,
    private readonly manifest: Manifest,
    private readonly onEvent: ((e: CacheEvent) => void) | undefined,
  ) {}

  /** The cached copy if it passes the checks, 'absent' if the source lacks it, else null (and the entry is dropped). */
  async cached(name: string): Promise<File | 'absent' | null> {
    if (this.manifest.absent.includes(name)) {
      this.onEvent?.({ file: name, hit: true });
      return 'absent';
    }
    const entry = this.manifest.files[name];
    if (!entry) {
      this.onEvent?.({ file: name, hit: false, reason: 'not cached' });
      return null;
    }
    let reason: string;
    try {
      const file = await (await this.dir.getFileHandle(name)).getFile();
      if (file.size !== entry.size) reason = `size ${file.size}, the manifest says ${entry.size}`;
      else if ((await sha256Hex(await file.arrayBuffer())) !== entry.sha256)
        reason = 'SHA-256 differs from the manifest';
      else {
        this.onEvent?.({ file: name, hit: true });
        return file;
      }
    } catch {
      reason = 'the manifest lists it but the file is missing';
    }
    this.onEvent?.({ file: name, hit: false, reason });
    delete this.manifest.files[name];
    return null;
  }

  async store(name: string, bytes: Uint8Array): Promise<void> {
    const w = await (await this.dir.getFileHandle(name, { create: true })).createWritable();
    await w.write(bytes as Uint8Array<ArrayBuffer>);
    await w.close();
    this.manifest.files[name] = { size: bytes.byteLength, sha256: await sha256Hex(bytes as Uint8Array<ArrayBuffer>) };
    await this.saveManifest();
  }

  async storeAbsent(name: string): Promise<null> {
    this.manifest.absent.push(name);
    await this.saveManifest();
    return null;
  }

  private saveManifest(): Promise<void> {
    const text = JSON.stringify(this.manifest);
    this.writes = this.writes.then(async () => {
      const w = await (await this.dir.getFileHandle(MANIFEST, { create: true })).createWritable();
      await w.write(text);
      await w.close();
    });
    return this.writes;
  }
}

/**
 * `folder` behind an OPFS cache. Throws where there is no OPFS (check `opfsAvailable()`).
 *
 * @example
 * const model = await loadModel(await opfsCachedFolder(urlFolder('/models/builtin/')));
 */
export async function opfsCachedFolder(folder: Folder, options: OpfsCacheOptions = {}): Promise<Folder> {
  const storage = (globalThis as StorageScope).navigator?.storage;
  if (!storage?.getDirectory) throw new Error('this context has no Origin Private File System (navigator.storage)');
  const root = await storage.getDirectory();
  const models = await root.getDirectoryHandle('tessera-models', { create: true });
  const dir = await models.getDirectoryHandle(options.name ?? (await cacheName(folder.location)), { create: true });
  const cache = new OpfsStore(dir, await readManifest(dir, folder.location), options.onEvent);

  const locate = (name: string) => folder.locate(name);
  return {
    location: folder.location,
    locate,
    list: () => folder.list(),
    async open(name): Promise<ByteSource | null> {
      const file = await cache.cached(name);
      if (file === 'absent') return null;
      if (file) return blobSource(file, `${locate(name)} (cached)`);
      const src = await folder.open(name);
      if (!src) return cache.storeAbsent(name);
      try {
        const bytes = await readWhole(src, options.onProgress);
        await cache.store(name, bytes);
        return blobSource(new Blob([bytes as Uint8Array<ArrayBuffer>]), locate(name));
      } finally {
        await src.close();
      }
    },
    async readText(name) {
      const file = await cache.cached(name);
      if (file === 'absent') return null;
      if (file) return file.text();
      const text = await folder.readText(name);
      if (text === null) return cache.storeAbsent(name);
      await cache.store(name, new TextEncoder().encode(text));
      return text;
    },
  };
}
