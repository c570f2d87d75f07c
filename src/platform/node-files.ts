/** File access in Node: local files through `node:fs`, read by position. */
import { type FileHandle, open, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { baseName, type ByteSource, type Folder, type Located, NotFoundError } from './byte-source.js';

const missing = (e: unknown) =>
  (e as { code?: string }).code === 'ENOENT' || (e as { code?: string }).code === 'ENOTDIR';

export async function nodeFileSource(path: string): Promise<ByteSource | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if (missing(e)) return null;
    throw e;
  }
  const { size } = await fh.stat();
  return {
    name: path,
    size,
    // one FileHandle.read moves at most 2 GiB; callers loop over short reads
    read: async (position, target) => (await fh.read(target, 0, target.byteLength, position)).bytesRead,
    close: () => fh.close(),
  };
}

export function nodeFolder(dir: string): Folder {
  const locate = (name: string) => join(dir, name);
  return {
    location: dir,
    locate,
    list: () => readdir(dir),
    open: (name) => nodeFileSource(locate(name)),
    readText: (name) =>
      readFile(locate(name), 'utf8').catch((e: unknown) => {
        if (missing(e)) return null;
        throw e;
      }),
  };
}

/** A path names a folder, or a file within its folder; a missing path throws `NotFoundError`. */
export async function locatePath(path: string): Promise<Located> {
  const st = await stat(path).catch((e: unknown) => {
    if (missing(e)) throw new NotFoundError(path);
    throw e;
  });
  return st.isDirectory()
    ? { folder: nodeFolder(path), file: null }
    : { folder: nodeFolder(dirname(path)), file: baseName(path) };
}
