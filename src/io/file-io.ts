/**
 * Positional reads that either fill the whole range or fail with the file's name.
 *
 * A source may return fewer bytes than asked (a local file read caps one call at 2 GiB), so every
 * read loops; a read that makes no progress means the file shrank after it was validated.
 */
import type { ByteSource } from '../platform/byte-source.js';
import { platform } from '../platform/current.js';
import { CheckpointError, describeError } from './errors.js';

/** One `read` call moves at most this much: bounded for Node's 2 GiB cap, and for progress granularity. */
export const READ_CHUNK_BYTES = 64 * 2 ** 20;

export async function readExactly(
  source: ByteSource,
  target: Uint8Array,
  position: number,
  context: { tensor?: string; onBytes?: (n: number) => void } = {},
): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const want = Math.min(READ_CHUNK_BYTES, target.byteLength - done);
    const bytesRead = await source.read(position + done, target.subarray(done, done + want));
    if (bytesRead === 0) {
      throw new CheckpointError(
        source.name,
        `unexpected end of file at byte ${position + done} (wanted ${target.byteLength} bytes from ${position})`,
        {
          tensor: context.tensor,
          hint: 'the file is truncated or changed while being read: re-download or re-export it',
        },
      );
    }
    done += bytesRead;
    context.onBytes?.(bytesRead);
  }
}

/** A path or URL opened through the platform, failing with the file's name and a hint. */
export async function openPath(path: string): Promise<ByteSource> {
  let source: ByteSource | null;
  try {
    const { folder, file } = await platform.locate(path);
    if (file === null) throw new Error('a folder, not a file');
    source = await folder.open(file);
  } catch (e) {
    throw new CheckpointError(path, `cannot open (${describeError(e)})`, {
      hint: 'check the path and its permissions',
    });
  }
  if (source === null) throw new CheckpointError(path, 'cannot open (no such file)', { hint: 'check the path' });
  return source;
}
