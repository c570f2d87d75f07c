/**
 * File access behind one interface, so the checkpoint readers run on a local file (Node), a URL
 * (ranged `fetch`) or a `Blob`/`File` (the File API) alike.
 */

/** One file's bytes, read by range. */
export interface ByteSource {
  /** A path or URL, for error messages. */
  readonly name: string;
  /** Bytes in the file. */
  readonly size: number;
  /**
   * Reads up to `target.byteLength` bytes starting at byte `position` into `target`; returns how many
   * were read (fewer only at the end of the file, 0 past it). Callers loop until the range is full.
   */
  read(position: number, target: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

/**
 * The files of one model: a local folder, a base URL, or a set of user-picked files. Names are
 * relative to it ('config.json', 'model-00001-of-00002.safetensors').
 */
export interface Folder {
  /** The folder's path or base URL, for error messages. */
  readonly location: string;
  /** A file's path or URL as messages should name it. */
  locate(name: string): string;
  /** The file names, or null where listing is impossible (a URL): callers then try the names they know. */
  list(): Promise<readonly string[] | null>;
  /** The file, or null when it does not exist. Other failures (permissions, network) throw. */
  open(name: string): Promise<ByteSource | null>;
  /** The file as UTF-8 text, or null when it does not exist. */
  readText(name: string): Promise<string | null>;
}

/** Bytes arriving for one file of a load: what a progress bar shows while a model downloads. */
export interface ByteProgress {
  readonly file: string;
  /** Bytes of this file read so far by this source. */
  readonly loaded: number;
  readonly total: number;
}

/** Where a location string points: a folder, and the file in it when it named one. */
export interface Located {
  readonly folder: Folder;
  readonly file: string | null;
}

/** Thrown when a location names nothing; `src/io` turns it into a `CheckpointError` with a hint. */
export class NotFoundError extends Error {
  constructor(readonly location: string) {
    super(`${location}: no such file or folder`);
    this.name = 'NotFoundError';
  }
}

/** The last path segment of a path or URL ('a/b/c.json' → 'c.json'). */
export function baseName(location: string): string {
  const trimmed = location.replace(/[/\\]+$/, '');
  return trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
}
