/** Platform seams: file access, workers, the GPU entry point. See platform.ts. */
export {
  baseName,
  type ByteProgress,
  type ByteSource,
  type Folder,
  type Located,
  NotFoundError,
} from './byte-source.js';
export type { Platform, WorkerHandle } from './platform.js';
export { platform } from './current.js';
export { blobFolder, blobSource, locateUrl, urlFolder, urlSource, type WebFileOptions } from './web-files.js';
export {
  type CacheEvent,
  type CachedFileEntry,
  opfsAvailable,
  opfsCachedFolder,
  type OpfsCacheOptions,
} from './opfs-cache.js';
