/**
 * Writes safetensors files: test fixtures, random-weight benchmark checkpoints, converted models.
 *
 * Tensors are written one after another in the order given, so a writer fed by a generator
 * never holds more than one tensor; the header is padded with spaces to 8 bytes (as the Rust
 * writer does) so the data area starts aligned.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { bytesPerElement, numel, type DType, type HostArray } from '../tensor/dtype.js';
import { DTYPE_TO_SAFETENSORS } from './safetensors-header.js';

export interface TensorToWrite {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: HostArray;
}

interface Planned {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly byteLength: number;
}

/** The header bytes (length prefix + padded JSON) for tensors laid out back to back in order. */
export function encodeSafetensorsHeader(
  tensors: readonly Planned[],
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__')
      throw new Error(`'__metadata__' is reserved by the safetensors format and cannot name a tensor`);
    if (t.name in header) throw new Error(`tensor '${t.name}' is listed twice`);
    const expected = numel(t.shape) * bytesPerElement(t.dtype);
    if (expected !== t.byteLength)
      throw new Error(
        `tensor '${t.name}': ${t.dtype} × [${t.shape.join(', ')}] needs ${expected} bytes, data has ${t.byteLength}`,
      );
    header[t.name] = {
      dtype: DTYPE_TO_SAFETENSORS[t.dtype],
      shape: t.shape,
      data_offsets: [offset, offset + t.byteLength],
    };
    offset += t.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

function plan(entries: Iterable<readonly [string, TensorToWrite]>): { planned: Planned[]; data: HostArray[] } {
  const planned: Planned[] = [];
  const data: HostArray[] = [];
  for (const [name, t] of entries) {
    planned.push({ name, dtype: t.dtype, shape: t.shape, byteLength: t.data.byteLength });
    data.push(t.data);
  }
  return { planned, data };
}

const asBytes = (a: HostArray) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A whole safetensors file in memory (small checkpoints and tests). */
export function serializeSafetensors(
  tensors: Iterable<readonly [string, TensorToWrite]>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const { planned, data } = plan(tensors);
  const header = encodeSafetensorsHeader(planned, metadata);
  const out = new Uint8Array(header.byteLength + data.reduce((s, d) => s + d.byteLength, 0));
  out.set(header, 0);
  let at = header.byteLength;
  for (const d of data) {
    out.set(asBytes(d), at);
    at += d.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file. Pass a Map or array of entries; to write checkpoints larger than RAM,
 * pass `shapes` up front and produce each tensor's data lazily with `produce`.
 *
 * @example
 * await writeSafetensors('tiny.safetensors', new Map([['w', { dtype: 'f32', shape: [2, 2], data: new Float32Array(4) }]]));
 */
export async function writeSafetensors(
  path: string,
  tensors: Iterable<readonly [string, TensorToWrite]>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const { planned, data } = plan(tensors);
  await writeLazily(path, planned, async (i) => data[i]!, metadata);
}

/** Writes tensors whose data is produced one at a time by `produce(index)` (peak memory: one tensor). */
export async function writeSafetensorsLazily(
  path: string,
  layout: readonly { name: string; dtype: DType; shape: readonly number[] }[],
  produce: (index: number) => Promise<HostArray> | HostArray,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const planned = layout.map((t) => ({ ...t, byteLength: numel(t.shape) * bytesPerElement(t.dtype) }));
  await writeLazily(path, planned, async (i) => produce(i), metadata);
}

/** Writes all of `bytes` at `position` (a single `write` may write fewer bytes than asked, and at most 2 GiB). */
async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < bytes.byteLength) {
    const want = Math.min(64 * 2 ** 20, bytes.byteLength - done);
    const { bytesWritten } = await fh.write(bytes, done, want, position + done);
    done += bytesWritten;
  }
  return position + done;
}

async function writeLazily(
  path: string,
  planned: readonly Planned[],
  produce: (i: number) => Promise<HostArray>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const header = encodeSafetensorsHeader(planned, metadata);
  const fh = await open(path, 'w');
  try {
    let at = await writeAll(fh, header, 0);
    for (let i = 0; i < planned.length; i++) {
      const d = await produce(i);
      if (d.byteLength !== planned[i]!.byteLength)
        throw new Error(
          `tensor '${planned[i]!.name}': produced ${d.byteLength} bytes, layout says ${planned[i]!.byteLength}`,
        );
      at = await writeAll(fh, asBytes(d), at);
    }
  } finally {
    await fh.close();
  }
}
