/**
 * Positional reads that either fill the whole range or fail with the file's name, and writes that write everything.
 *
 * `FileHandle.read` may return fewer bytes than asked (and caps one call at 2 GiB), so every
 * read loops; a read that makes no progress means the file shrank after it was validated.
 */
import type { FileHandle } from 'node:fs/promises';
import { CheckpointError } from './errors.js';

/** One `read` call moves at most this much: bounded for Node's 2 GiB cap and for progress granularity. */
export const READ_CHUNK_BYTES = 64 * 2 ** 20;

export async function readExactly(
  fh: FileHandle,
  file: string,
  target: Uint8Array,
  position: number,
  context: { tensor?: string; onBytes?: (n: number) => void } = {},
): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const want = Math.min(READ_CHUNK_BYTES, target.byteLength - done);
    const { bytesRead } = await fh.read(target, done, want, position + done);
    if (bytesRead === 0) {
      throw new CheckpointError(
        file,
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

/** Writes all of `bytes` at `position` (a single `write` may write fewer bytes than asked). */
export async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < bytes.byteLength) {
    const want = Math.min(READ_CHUNK_BYTES, bytes.byteLength - done);
    const { bytesWritten } = await fh.write(bytes, done, want, position + done);
    done += bytesWritten;
  }
  return position + done;
}
