/**
 * A strict GGUF v2/v3 header parser: magic, version, counts, KV metadata, tensor infos, alignment.
 *
 * Why not `@huggingface/gguf`: on a local file it reads 2 MB chunks into a buffer that is resized
 * (zero-filled) to whole chunks, so a truncated file parses "successfully" into keys of NUL bytes
 * and empty tensor names instead of failing; it also accepts v1 files and leaves tensor types and
 * data offsets unchecked. Every length here is checked against the bytes the file really has
 * before anything is allocated, so a corrupt count or length fails at once with the file's name.
 */
import type { ByteSource } from '../platform/byte-source.js';
import { CheckpointError } from './errors.js';
import { GGUF_VALUE_TYPE, type GgufScalarKind } from './gguf-types.js';
import { ggmlBlockLayout, ggmlTypeName, type GgmlTypeName } from './gguf-types.js';

export type GgufScalar = number | bigint | boolean | string;
export type GgufValue = GgufScalar | GgufScalar[];

export interface GgufTensorEntry {
  readonly name: string;
  /** ggml's ne[]: innermost (contiguous) dimension first. */
  readonly dims: readonly number[];
  readonly typeId: number;
  readonly type: GgmlTypeName;
  /** Offset relative to the data section, a multiple of the alignment. */
  readonly offset: number;
  readonly byteLength: number;
}

export interface GgufHeader {
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** The GGUF value kind of each metadata key (arrays: 'array'). */
  readonly kinds: ReadonlyMap<string, GgufScalarKind | 'array'>;
  readonly tensors: readonly GgufTensorEntry[];
  readonly alignment: number;
  /** Absolute file offset of the data section. */
  readonly dataStart: number;
}

const KIND_OF = new Map<number, GgufScalarKind | 'array'>(
  Object.entries(GGUF_VALUE_TYPE).map(([k, v]) => [v, k as GgufScalarKind | 'array']),
);
const SCALAR_BYTES: Record<GgufScalarKind, number> = {
  u8: 1,
  i8: 1,
  bool: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  u64: 8,
  i64: 8,
  f64: 8,
  string: 8,
};
/** ggml tensors have at most 4 dimensions (GGML_MAX_DIMS). */
const MAX_DIMS = 4;
const WINDOW = 1 << 20;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a file front to back through a window, failing (with the field name) at the file's real end. */
class HeaderCursor {
  private buf = new Uint8Array(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly source: ByteSource,
    readonly file: string,
    readonly size: number,
  ) {}

  remaining(): number {
    return this.size - this.pos;
  }

  async bytes(n: number, what: string): Promise<Uint8Array> {
    if (n > this.remaining()) {
      throw new CheckpointError(
        this.file,
        `truncated: ${what} needs ${n} bytes at offset ${this.pos}, but the file ends at ${this.size}`,
      );
    }
    const end = this.pos + n;
    if (this.pos < this.bufStart || end > this.bufStart + this.buf.byteLength) {
      const len = Math.min(Math.max(n, WINDOW), this.size - this.pos);
      const fresh = new Uint8Array(len);
      let done = 0;
      while (done < len) {
        const bytesRead = await this.source.read(this.pos + done, fresh.subarray(done));
        if (bytesRead === 0)
          throw new CheckpointError(
            this.file,
            `unexpected end of file at byte ${this.pos + done} while reading ${what}`,
          );
        done += bytesRead;
      }
      this.buf = fresh;
      this.bufStart = this.pos;
    }
    const out = this.buf.subarray(this.pos - this.bufStart, end - this.bufStart);
    this.pos = end;
    return out;
  }

  /**
   * The next value when it lies wholly inside the current window, else undefined (and nothing
   * consumed): the fast path for the 100k-element vocabulary arrays, which would otherwise pay
   * one promise per element.
   */
  scalarSync(kind: GgufScalarKind): GgufScalar | undefined {
    const at = this.pos - this.bufStart;
    if (at < 0) return undefined;
    const avail = this.buf.byteLength - at;
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset + at, avail);
    if (kind === 'string') {
      if (avail < 8) return undefined;
      const n = dv.getBigUint64(0, true);
      if (n > BigInt(avail - 8)) return undefined;
      const len = Number(n);
      let text: string;
      try {
        text = utf8.decode(this.buf.subarray(at + 8, at + 8 + len));
      } catch {
        return undefined; // the slow path reports it with the field's name
      }
      this.pos += 8 + len;
      return text;
    }
    if (kind === 'bool' || avail < SCALAR_BYTES[kind]) return undefined;
    this.pos += SCALAR_BYTES[kind];
    return fixedScalar(dv, kind);
  }

  async view(n: number, what: string): Promise<DataView> {
    const b = await this.bytes(n, what);
    return new DataView(b.buffer, b.byteOffset, n);
  }

  async u32(what: string): Promise<number> {
    return (await this.view(4, what)).getUint32(0, true);
  }

  /** A u64 that must fit what `limit` allows (sizes, counts, offsets): anything larger is corrupt. */
  async u64(what: string, limit: number): Promise<number> {
    const v = (await this.view(8, what)).getBigUint64(0, true);
    if (v > BigInt(limit))
      throw new CheckpointError(this.file, `${what} is ${v}, impossible in a ${this.size}-byte file (limit ${limit})`);
    return Number(v);
  }

  async string(what: string): Promise<string> {
    const n = await this.u64(`length of ${what}`, this.remaining() - 8);
    const b = await this.bytes(n, what);
    try {
      return utf8.decode(b);
    } catch {
      throw new CheckpointError(this.file, `${what} is not valid UTF-8`);
    }
  }

  async scalar(kind: GgufScalarKind, what: string): Promise<GgufScalar> {
    if (kind === 'string') return this.string(what);
    const dv = await this.view(SCALAR_BYTES[kind], what);
    if (kind === 'bool') {
      const b = dv.getUint8(0);
      if (b > 1) throw new CheckpointError(this.file, `${what} is a bool with byte value ${b}`);
      return b === 1;
    }
    return fixedScalar(dv, kind);
  }
}

/** The fixed-size scalar at the start of `dv` (little-endian); bool is left to the caller, which checks its byte. */
function fixedScalar(dv: DataView, kind: Exclude<GgufScalarKind, 'string' | 'bool'>): GgufScalar {
  switch (kind) {
    case 'u8':
      return dv.getUint8(0);
    case 'i8':
      return dv.getInt8(0);
    case 'u16':
      return dv.getUint16(0, true);
    case 'i16':
      return dv.getInt16(0, true);
    case 'u32':
      return dv.getUint32(0, true);
    case 'i32':
      return dv.getInt32(0, true);
    case 'f32':
      return dv.getFloat32(0, true);
    case 'f64':
      return dv.getFloat64(0, true);
    case 'u64':
      return safeOrBig(dv.getBigUint64(0, true));
    case 'i64':
      return safeOrBig(dv.getBigInt64(0, true));
  }
}

/** 64-bit integers become numbers when exact, bigints otherwise. */
const safeOrBig = (v: bigint): number | bigint =>
  v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;

type RawTensorInfo = { name: string; dims: number[]; typeId: number; offset: number };

/** Magic, version and the two counts, each count bounded by what the file could hold. */
async function readPreamble(c: HeaderCursor, file: string, size: number) {
  if (size < 24)
    throw new CheckpointError(file, `is ${size} bytes long, shorter than a GGUF header (24 bytes)`, {
      hint: 'the file is empty or truncated, or not a GGUF file',
    });
  const magic = await c.bytes(4, 'magic');
  if (String.fromCharCode(...magic) !== 'GGUF') {
    throw new CheckpointError(
      file,
      `bad magic ${JSON.stringify(String.fromCharCode(...magic))} (a GGUF file starts with "GGUF")`,
      { hint: 'this is not a GGUF file (or it is big-endian or damaged)' },
    );
  }
  const version = await c.u32('version');
  if (version !== 2 && version !== 3) {
    throw new CheckpointError(file, `GGUF version ${version} is not supported (Tessera reads versions 2 and 3)`, {
      hint:
        version === 1
          ? 'GGUF v1 is obsolete: re-convert the model with a current llama.cpp'
          : 'the file is damaged or from a newer GGUF revision',
    });
  }
  // Each tensor info takes at least 24 bytes and each KV pair at least 13: bound the counts by the file.
  const tensorCount = await c.u64('tensor count', Math.floor(size / 24));
  const kvCount = await c.u64('metadata KV count', Math.floor(size / 13));
  return { version, tensorCount, kvCount };
}

/** The metadata key/value pairs, with each value's GGUF type kept beside it. */
async function readMetadata(c: HeaderCursor, file: string, kvCount: number) {
  const metadata = new Map<string, GgufValue>();
  const kinds = new Map<string, GgufScalarKind | 'array'>();
  for (let i = 0; i < kvCount; i++) {
    const key = await c.string(`metadata key #${i}`);
    if (metadata.has(key)) throw new CheckpointError(file, `metadata key '${key}' appears twice`);
    const typeId = await c.u32(`type of metadata '${key}'`);
    const kind = KIND_OF.get(typeId);
    if (kind === undefined) throw new CheckpointError(file, `metadata '${key}' has unknown value type ${typeId}`);
    kinds.set(key, kind);
    metadata.set(key, kind === 'array' ? await readArray(c, file, key) : await c.scalar(kind, `metadata '${key}'`));
  }
  return { metadata, kinds };
}

/** An array value: item type, length (bounded by the bytes left), items; nested arrays are refused. */
async function readArray(c: HeaderCursor, file: string, key: string): Promise<GgufScalar[]> {
  const itemId = await c.u32(`item type of metadata '${key}'`);
  const itemKind = KIND_OF.get(itemId);
  if (itemKind === undefined || itemKind === 'array') {
    throw new CheckpointError(
      file,
      `metadata '${key}' is an array of ${itemKind === 'array' ? 'arrays (nested arrays are not supported)' : `unknown type ${itemId}`}`,
    );
  }
  const n = await c.u64(`length of metadata array '${key}'`, Math.floor(c.remaining() / SCALAR_BYTES[itemKind]));
  const items: GgufScalar[] = new Array(n);
  for (let j = 0; j < n; j++)
    items[j] = c.scalarSync(itemKind) ?? (await c.scalar(itemKind, `metadata '${key}'[${j}]`));
  return items;
}

/** The tensor infos as stored: unique names, at most MAX_DIMS dims; types and extents are checked later. */
async function readTensorInfos(c: HeaderCursor, file: string, tensorCount: number): Promise<RawTensorInfo[]> {
  const raw: RawTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await c.string(`name of tensor #${i}`);
    if (names.has(name)) throw new CheckpointError(file, 'tensor name appears twice', { tensor: name });
    names.add(name);
    const nDims = await c.u32(`dimension count of tensor '${name}'`);
    if (nDims > MAX_DIMS)
      throw new CheckpointError(file, `has ${nDims} dimensions; ggml tensors have at most ${MAX_DIMS}`, {
        tensor: name,
      });
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++)
      dims.push(await c.u64(`dimension ${d} of tensor '${name}'`, Number.MAX_SAFE_INTEGER));
    const typeId = await c.u32(`type of tensor '${name}'`);
    const offset = await c.u64(`data offset of tensor '${name}'`, Number.MAX_SAFE_INTEGER);
    raw.push({ name, dims, typeId, offset });
  }
  return raw;
}

/** Parses and validates the header of the GGUF file open as `source`. */
export async function readGgufHeader(source: ByteSource): Promise<GgufHeader> {
  const { size, name: file } = source;
  const c = new HeaderCursor(source, file, size);
  const { version, tensorCount, kvCount } = await readPreamble(c, file, size);
  const { metadata, kinds } = await readMetadata(c, file, kvCount);
  const alignment = readAlignment(file, metadata, kinds);
  const raw = await readTensorInfos(c, file, tensorCount);
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  const tensors = raw.map((t) => sizeTensor(file, t, alignment, size - dataStart));
  checkNoOverlap(file, tensors);
  return { version, metadata, kinds, tensors, alignment, dataStart };
}

function readAlignment(file: string, metadata: Map<string, GgufValue>, kinds: Map<string, string>): number {
  const a = metadata.get('general.alignment');
  if (a === undefined) return 32;
  if (kinds.get('general.alignment') !== 'u32' || typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) {
    throw new CheckpointError(
      file,
      `general.alignment must be a u32 power of two, got ${String(a)} (${kinds.get('general.alignment')})`,
    );
  }
  return a;
}

function sizeTensor(file: string, t: RawTensorInfo, alignment: number, dataBytes: number): GgufTensorEntry {
  const type = ggmlTypeName(t.typeId);
  if (type === undefined) {
    throw new CheckpointError(file, `unknown ggml type id ${t.typeId}`, {
      tensor: t.name,
      hint: 'the file is damaged, or uses a quantization newer than Tessera knows',
    });
  }
  const { blockElements, blockBytes } = ggmlBlockLayout(type);
  if ((t.dims[0] ?? 1) % blockElements !== 0) {
    throw new CheckpointError(
      file,
      `row length ${t.dims[0]} is not a multiple of the ${type} block size ${blockElements}`,
      { tensor: t.name },
    );
  }
  // BigInt: corrupt dims like [2^40, 2^40] must not round to something that looks in range.
  const numel = t.dims.reduce((p, d) => p * BigInt(d), 1n);
  const bytes = (numel / BigInt(blockElements)) * BigInt(blockBytes);
  if (t.offset % alignment !== 0)
    throw new CheckpointError(file, `data offset ${t.offset} is not a multiple of the alignment ${alignment}`, {
      tensor: t.name,
    });
  if (BigInt(t.offset) + bytes > BigInt(dataBytes)) {
    throw new CheckpointError(
      file,
      `${type} × [${t.dims.join(', ')}] (ggml order) needs ${bytes} bytes at data offset ${t.offset}, past the ${dataBytes} bytes of data in the file`,
      {
        tensor: t.name,
        hint: 'the file is truncated, or its tensor info is corrupt',
      },
    );
  }
  return { name: t.name, dims: t.dims, typeId: t.typeId, type, offset: t.offset, byteLength: Number(bytes) };
}

function checkNoOverlap(file: string, tensors: readonly GgufTensorEntry[]): void {
  const sorted = [...tensors].filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const t = sorted[i]!;
    if (t.offset < prev.offset + prev.byteLength) {
      throw new CheckpointError(
        file,
        `data [${t.offset}, ${t.offset + t.byteLength}) overlaps tensor '${prev.name}' [${prev.offset}, ${prev.offset + prev.byteLength})`,
        { tensor: t.name },
      );
    }
  }
}
