/**
 * Writes GGUF v3 files (test files, fixtures, converted checkpoints), in memory or one tensor at a
 * time. Layout: magic "GGUF", version, tensor count, KV count, the KV pairs, the tensor infos (dims
 * innermost first, as ggml counts them), padding to the alignment, then each tensor's bytes padded
 * to the alignment.
 *
 * Raw overrides (`typeId`, `offset`, `dims`, `version`, `magic`) exist so tests can build the
 * malformed files a loader must reject.
 */
import { open, writeFile } from 'node:fs/promises';
import { GGML_TYPE, GGUF_VALUE_TYPE, type GgmlTypeName, type GgufScalarKind } from './gguf-types.js';

export { GGUF_VALUE_TYPE, type GgufScalarKind } from './gguf-types.js';

/** A metadata value with its exact GGUF type (llama.cpp checks types, e.g. u32 for lengths). */
export type GgufTypedValue =
  | { readonly kind: GgufScalarKind; readonly value: number | bigint | boolean | string }
  | {
      readonly kind: 'array';
      readonly itemKind: GgufScalarKind;
      readonly items: readonly (number | bigint | boolean | string)[];
    };

/** Plain JS values are typed as llama.cpp's converter would: integers u32 (i32 if negative), other numbers f32. */
export type GgufValueInput =
  | GgufTypedValue
  | string
  | boolean
  | number
  | bigint
  | readonly string[]
  | readonly number[];

export interface GgufTensorToWrite {
  readonly name: string;
  readonly type: GgmlTypeName;
  /** Row-major shape, outermost first (HF order); written reversed, as ggml's ne[]. */
  readonly shape: readonly number[];
  /** Encoded bytes (see encodeGgml). */
  readonly data: Uint8Array;
  /** Test overrides: raw type id, raw offset, raw ggml dims. */
  readonly typeId?: number;
  readonly offset?: bigint;
  readonly dims?: readonly bigint[];
}

export interface GgufToWrite {
  readonly metadata: Readonly<Record<string, GgufValueInput>>;
  readonly tensors: readonly GgufTensorToWrite[];
  readonly alignment?: number;
  readonly version?: number;
  readonly magic?: string;
}

function typed(v: GgufValueInput): GgufTypedValue {
  if (typeof v === 'object' && !Array.isArray(v) && v !== null && 'kind' in (v as object)) return v as GgufTypedValue;
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (typeof v === 'boolean') return { kind: 'bool', value: v };
  if (typeof v === 'bigint') return { kind: v < 0n ? 'i64' : 'u64', value: v };
  if (typeof v === 'number') return { kind: Number.isInteger(v) ? (v < 0 ? 'i32' : 'u32') : 'f32', value: v };
  const items = v as readonly (string | number)[];
  if (items.every((x) => typeof x === 'string')) return { kind: 'array', itemKind: 'string', items };
  return { kind: 'array', itemKind: items.every((x) => Number.isInteger(x)) ? 'i32' : 'f32', items };
}

class ByteSink {
  private chunks: Uint8Array[] = [];
  length = 0;
  push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.byteLength;
  }
  scalar(kind: GgufScalarKind, value: number | bigint | boolean | string): void {
    if (kind === 'string') {
      const s = new TextEncoder().encode(value as string);
      this.scalar('u64', BigInt(s.byteLength));
      this.push(s);
      return;
    }
    const size = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 }[kind];
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    switch (kind) {
      case 'u8':
        dv.setUint8(0, Number(value));
        break;
      case 'i8':
        dv.setInt8(0, Number(value));
        break;
      case 'bool':
        dv.setUint8(0, value ? 1 : 0);
        break;
      case 'u16':
        dv.setUint16(0, Number(value), true);
        break;
      case 'i16':
        dv.setInt16(0, Number(value), true);
        break;
      case 'u32':
        dv.setUint32(0, Number(value), true);
        break;
      case 'i32':
        dv.setInt32(0, Number(value), true);
        break;
      case 'f32':
        dv.setFloat32(0, Number(value), true);
        break;
      case 'u64':
        dv.setBigUint64(0, BigInt(value as number | bigint), true);
        break;
      case 'i64':
        dv.setBigInt64(0, BigInt(value as number | bigint), true);
        break;
      case 'f64':
        dv.setFloat64(0, Number(value), true);
        break;
    }
    this.push(b);
  }
  pad(alignment: number): void {
    const rem = this.length % alignment;
    if (rem) this.push(new Uint8Array(alignment - rem));
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

/** A tensor's place in a GGUF header: what the header records, without the data. */
export type GgufTensorLayout = Omit<GgufTensorToWrite, 'data'> & { readonly byteLength: number };

export interface GgufLayout {
  readonly metadata: Readonly<Record<string, GgufValueInput>>;
  readonly tensors: readonly GgufTensorLayout[];
  readonly alignment?: number;
  readonly version?: number;
  readonly magic?: string;
}

/**
 * The bytes before the first tensor's data: magic, counts, metadata, tensor infos, padding to the
 * alignment. Tensor data then follows in the given order, each padded to the alignment.
 */
export function encodeGgufHeader(spec: GgufLayout): Uint8Array {
  const alignment = spec.alignment ?? 32;
  const metadata: Record<string, GgufValueInput> = { ...spec.metadata };
  if (spec.alignment !== undefined) metadata['general.alignment'] = { kind: 'u32', value: alignment };
  const sink = new ByteSink();
  sink.push(new TextEncoder().encode(spec.magic ?? 'GGUF'));
  sink.scalar('u32', spec.version ?? 3);
  sink.scalar('u64', BigInt(spec.tensors.length));
  sink.scalar('u64', BigInt(Object.keys(metadata).length));
  for (const [key, raw] of Object.entries(metadata)) {
    const v = typed(raw);
    sink.scalar('string', key);
    sink.scalar('u32', GGUF_VALUE_TYPE[v.kind]);
    if (v.kind === 'array') {
      sink.scalar('u32', GGUF_VALUE_TYPE[v.itemKind]);
      sink.scalar('u64', BigInt(v.items.length));
      for (const item of v.items) sink.scalar(v.itemKind, item);
    } else sink.scalar(v.kind, v.value);
  }
  let offset = 0;
  for (const t of spec.tensors) {
    const dims = t.dims ?? [...t.shape].reverse().map(BigInt);
    sink.scalar('string', t.name);
    sink.scalar('u32', dims.length);
    for (const d of dims) sink.scalar('u64', d);
    sink.scalar('u32', t.typeId ?? GGML_TYPE[t.type]);
    sink.scalar('u64', t.offset ?? BigInt(offset));
    offset += Math.ceil(t.byteLength / alignment) * alignment;
  }
  sink.pad(alignment);
  return sink.bytes();
}

/** Encodes a whole GGUF file in memory. */
export function encodeGguf(spec: GgufToWrite): Uint8Array {
  const alignment = spec.alignment ?? 32;
  const sink = new ByteSink();
  sink.push(encodeGgufHeader({ ...spec, tensors: spec.tensors.map((t) => ({ ...t, byteLength: t.data.byteLength })) }));
  for (const t of spec.tensors) {
    sink.push(t.data);
    sink.pad(alignment);
  }
  return sink.bytes();
}

export async function writeGguf(path: string, spec: GgufToWrite): Promise<void> {
  await writeFile(path, encodeGguf(spec));
}

/**
 * Writes a GGUF file one tensor at a time: `produce(i)` is asked for tensor i's encoded bytes only
 * when its turn comes, so a checkpoint larger than RAM can be converted. Each result must have
 * the byteLength the layout announced (the header was written with it).
 *
 * @example
 * await writeGgufLazily('out.gguf', { metadata, tensors: layouts }, async (i) => encode(await source.read(names[i])));
 */
export async function writeGgufLazily(
  path: string,
  spec: GgufLayout,
  produce: (index: number) => Promise<Uint8Array> | Uint8Array,
): Promise<void> {
  const alignment = spec.alignment ?? 32;
  const fh = await open(path, 'w');
  try {
    let position = 0;
    const put = async (bytes: Uint8Array) => {
      for (let done = 0; done < bytes.byteLength; ) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done, position);
        done += bytesWritten;
        position += bytesWritten;
      }
    };
    await put(encodeGgufHeader(spec));
    for (let i = 0; i < spec.tensors.length; i++) {
      const t = spec.tensors[i]!;
      const data = await produce(i);
      if (data.byteLength !== t.byteLength)
        throw new Error(
          `writeGgufLazily: tensor '${t.name}' has ${data.byteLength} bytes, its layout said ${t.byteLength}`,
        );
      await put(data);
      const rem = data.byteLength % alignment;
      if (rem) await put(new Uint8Array(alignment - rem));
    }
  } finally {
    await fh.close();
  }
}
