/**
 * The safetensors header: an 8-byte little-endian length N, then N bytes of JSON mapping each
 * tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the byte
 * buffer after the header), plus an optional `__metadata__` string map.
 *
 * Validation is strict because offsets from the header become file reads and allocations: the
 * tensors must tile the data area exactly (sorted by offset: no gap, no overlap, nothing left
 * over), and each tensor's byte span must equal its dtype size × element count.
 */
import type { DType } from '../tensor/dtype.js';
import { CheckpointError, describeError } from './errors.js';

/** The dtype names the safetensors format defines, with their element sizes in bytes. */
const ELEMENT_BYTES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** File dtypes Tessera reads, and the host dtype each becomes (bytes are passed through unchanged). */
export const SAFETENSORS_TO_DTYPE: Readonly<Record<string, DType>> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  I32: 'i32',
  U32: 'u32',
  I8: 'i8',
  U8: 'u8',
};

export const DTYPE_TO_SAFETENSORS: Readonly<Record<DType, string>> = {
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
  i32: 'I32',
  u32: 'U32',
  i8: 'I8',
  u8: 'U8',
};

/** The Rust reference implementation refuses headers above 100 MB; so do we, before reading them. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  readonly name: string;
  /** The dtype as the file spells it (`F32`, `BF16`, `I64`, ...). */
  readonly fileDtype: string;
  /** The host dtype, or undefined when Tessera does not read this file dtype. */
  readonly dtype: DType | undefined;
  readonly shape: readonly number[];
  /** Byte offsets relative to the start of the data area. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Checks the 8-byte length prefix against the file size before anything is read or allocated.
 * Returns the header length N.
 */
export function checkHeaderLength(file: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8) {
    throw new CheckpointError(file, `is ${fileSize} bytes long, shorter than the 8-byte safetensors length prefix`, {
      hint: 'the file is empty or truncated, or not a safetensors file',
    });
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n) throw new CheckpointError(file, `header length is ${n}, too short for a JSON object`);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(
      file,
      `header length prefix claims ${n} bytes, above the ${MAX_HEADER_BYTES}-byte limit`,
      {
        hint:
          n > BigInt(fileSize)
            ? 'the header length is corrupt, or this is not a safetensors file'
            : 'the file is malformed',
      },
    );
  }
  if (n > BigInt(fileSize - 8)) {
    throw new CheckpointError(file, `header length prefix claims ${n} bytes but only ${fileSize - 8} follow it`, {
      hint: 'the file is truncated, or the header length is corrupt',
    });
  }
  return Number(n);
}

/** Parses and validates the JSON header; `dataBytes` is the size of the data area that follows it. */
export function parseSafetensorsHeader(file: string, headerBytes: Uint8Array, dataBytes: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new CheckpointError(file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) {
    throw new CheckpointError(
      file,
      `header does not start with '{' (starts with ${JSON.stringify(text.slice(0, 16))})`,
      {
        hint: 'this is not a safetensors file, or its header length prefix is wrong',
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `header is not valid JSON (${describeError(e)})`, {
      hint: 'the header is corrupt or its length prefix is wrong',
    });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CheckpointError(file, 'header JSON is not an object');
  }

  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, value);
      continue;
    }
    entries.push(parseEntry(file, name, value, dataBytes));
  }
  checkTiling(file, entries, dataBytes);
  return { entries, metadata };
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CheckpointError(file, '__metadata__ is not an object of strings');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new CheckpointError(file, `__metadata__['${k}'] is ${typeof v}, not a string`);
    out[k] = v;
  }
  return out;
}

function parseEntry(file: string, name: string, value: unknown, dataBytes: number): SafetensorsEntry {
  const fail = (problem: string): never => {
    throw new CheckpointError(file, problem, { tensor: name });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('header entry is not an object');
  const v = value as Record<string, unknown>;
  const fileDtype = v.dtype;
  if (typeof fileDtype !== 'string' || !(fileDtype in ELEMENT_BYTES)) {
    fail(
      `unknown dtype ${JSON.stringify(fileDtype)} (the safetensors format defines ${Object.keys(ELEMENT_BYTES).join(', ')})`,
    );
  }
  const dt = fileDtype as string;
  if (!Array.isArray(v.shape)) fail('shape is missing or not an array');
  const shape = v.shape as unknown[];
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      fail(`shape ${JSON.stringify(shape)} has a dimension that is not a non-negative integer`);
  }
  const offsets = v.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) fail('data_offsets is missing or not a [begin, end] pair');
  const [begin, end] = offsets as unknown[];
  if (
    typeof begin !== 'number' ||
    typeof end !== 'number' ||
    !Number.isSafeInteger(begin) ||
    !Number.isSafeInteger(end) ||
    begin < 0 ||
    end < begin
  ) {
    fail(`data_offsets ${JSON.stringify(offsets)} is not an increasing pair of non-negative integers`);
  }
  const b = begin as number;
  const e = end as number;
  if (e > dataBytes)
    fail(
      `data_offsets [${b}, ${e}] run past the end of the data area (${dataBytes} bytes): the file is truncated or the offsets are corrupt`,
    );

  // Multiply in BigInt: a corrupt shape like [1e6, 1e6, 1e6] must not round to something plausible.
  let numel = 1n;
  for (const d of shape as number[]) numel *= BigInt(d);
  const expected = numel * BigInt(ELEMENT_BYTES[dt]!);
  if (expected !== BigInt(e - b)) {
    fail(
      `dtype ${dt} × shape [${(shape as number[]).join(', ')}] needs ${expected} bytes but data_offsets [${b}, ${e}] span ${e - b}`,
    );
  }
  return { name, fileDtype: dt, dtype: SAFETENSORS_TO_DTYPE[dt], shape: shape as number[], begin: b, end: e };
}

/** Tensors sorted by offset must cover [0, dataBytes) exactly once. */
function checkTiling(file: string, entries: readonly SafetensorsEntry[], dataBytes: number): void {
  const sorted = [...entries].sort((x, y) => x.begin - y.begin || x.end - y.end);
  let cursor = 0;
  let previous: SafetensorsEntry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor) {
      throw new CheckpointError(
        file,
        `data_offsets [${e.begin}, ${e.end}] overlap tensor '${previous!.name}' [${previous!.begin}, ${previous!.end}]`,
        { tensor: e.name },
      );
    }
    if (e.begin > cursor) {
      throw new CheckpointError(
        file,
        `bytes [${cursor}, ${e.begin}) of the data area belong to no tensor (the next tensor starts at ${e.begin})`,
        { tensor: e.name },
      );
    }
    cursor = e.end;
    if (e.end > e.begin) previous = e;
  }
  if (cursor !== dataBytes) {
    throw new CheckpointError(
      file,
      `tensors end at data byte ${cursor} but the file has ${dataBytes} data bytes (${dataBytes - cursor} trailing bytes)`,
      {
        hint: 'the file has junk appended or a tensor missing from its header',
      },
    );
  }
}
