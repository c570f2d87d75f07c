import { gguf as referenceGguf } from '@huggingface/gguf';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/io/errors.js';
import { dequantizeToF32 } from '../../src/io/gguf-dequantize.js';
import { GgufFile } from '../../src/io/gguf-file.js';
import { encodeGgml } from '../../src/io/gguf-quantize.js';
import { encodeGguf, writeGguf, type GgufTensorToWrite, type GgufToWrite } from '../../src/io/gguf-writer.js';
import type { GgmlTypeName } from '../../src/io/gguf-types.js';
import { f16Bits } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { rejection, tempFolder, writeBytes } from './helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const seed = testSeed();
const rng = new Rng(seed);
const values = (n: number) => Float32Array.from(rng.normals(n));
function tensor(
  name: string,
  type: GgmlTypeName,
  shape: number[],
  v?: ArrayLike<number>,
): GgufTensorToWrite & { values: ArrayLike<number> } {
  const vals = v ?? values(shape.reduce((a, b) => a * b, 1));
  return { name, type, shape, data: encodeGgml(type, vals), values: vals };
}

const metadata = {
  'general.architecture': 'llama',
  'general.name': 'tiny',
  'llama.block_count': 2,
  'llama.rope.freq_base': 500000.5,
  'general.flag': true,
  'big.u64': 2n ** 60n,
  'small.i64': { kind: 'i64', value: -5n },
  'f.f64': { kind: 'f64', value: Math.PI },
  'tokenizer.ggml.tokens': ['<s>', 'héllo', '世界'],
  'tokenizer.ggml.token_type': [3, 1, 1],
  'tokenizer.ggml.scores': [0.5, -1.25, 2],
} as const satisfies GgufToWrite['metadata'];

describe(`GGUF files (${seedNote(seed)})`, () => {
  const tensors = [
    tensor('token_embd.weight', 'Q4_K', [3, 512]),
    tensor('blk.0.attn_q.weight', 'Q8_0', [4, 64]),
    tensor('blk.0.attn_k.weight', 'Q4_0', [2, 32]),
    tensor('blk.0.ffn_down.weight', 'Q6_K', [2, 256]),
    tensor('output_norm.weight', 'F32', [7]),
    tensor('blk.0.attn_norm.weight', 'F16', [5]),
    tensor('blk.0.ffn_norm.weight', 'BF16', [2, 3]),
    tensor('ids', 'I32', [3], [1, -2, 3]),
    tensor('bytes', 'I8', [4], [-128, 0, 1, 127]),
  ];

  it('round-trips metadata and every readable tensor type, in HF shape order', async () => {
    const path = join(dir, 'all.gguf');
    await writeGguf(path, { metadata, tensors });
    const g = await GgufFile.open(path);
    expect(g.header.version).toBe(3);
    expect(g.metadata.get('general.architecture')).toBe('llama');
    expect(g.metadata.get('llama.block_count')).toBe(2);
    expect(g.header.kinds.get('llama.block_count')).toBe('u32');
    expect(g.metadata.get('llama.rope.freq_base')).toBe(Math.fround(500000.5));
    expect(g.metadata.get('general.flag')).toBe(true);
    expect(g.metadata.get('big.u64')).toBe(2n ** 60n);
    expect(g.metadata.get('small.i64')).toBe(-5);
    expect(g.metadata.get('f.f64')).toBe(Math.PI);
    expect(g.metadata.get('tokenizer.ggml.tokens')).toEqual(['<s>', 'héllo', '世界']);
    expect(g.metadata.get('tokenizer.ggml.token_type')).toEqual([3, 1, 1]);
    for (const t of tensors) {
      const info = g.tensors.get(t.name)!;
      expect(info.shape).toEqual(t.shape);
      expect(info.ggmlType).toBe(t.type);
      const got = await g.read(t.name);
      if (t.type === 'F16' || t.type === 'BF16') {
        expect(info.dtype).toBe(t.type.toLowerCase());
        expect(Array.from(got)).toEqual(Array.from(new Uint16Array(t.data.buffer)));
      } else if (t.type === 'I32' || t.type === 'I8') {
        expect(Array.from(got)).toEqual(Array.from(t.values));
      } else {
        expect(info.dtype).toBe('f32');
        const expected = new Float32Array(t.values.length);
        dequantizeToF32(t.type, t.data, expected);
        expect(got).toEqual(expected);
        expect(Array.from(await g.readRaw(t.name))).toEqual(Array.from(t.data));
      }
    }
    await g.close();
  });

  it('dequantizes to f16 on request and reads row ranges', async () => {
    const path = join(dir, 'f16.gguf');
    await writeGguf(path, { metadata, tensors });
    const g = await GgufFile.open(path, { dequantizeTo: 'f16' });
    const info = g.tensors.get('token_embd.weight')!;
    expect(info.dtype).toBe('f16');
    expect(info.byteLength).toBe(3 * 512 * 2);
    const full = new Float32Array(3 * 512);
    dequantizeToF32('Q4_K', tensors[0]!.data, full);
    const half = (await g.read('token_embd.weight')) as Uint16Array;
    expect(Array.from(half)).toEqual(Array.from(full, f16Bits));
    const rows = await g.readRows('token_embd.weight', 1, 2);
    expect(Array.from(rows)).toEqual(Array.from(half.subarray(512)));
    await expect(g.readRows('token_embd.weight', 2, 2)).rejects.toThrow(/outside its 3 rows/);
    await g.close();
  });

  it('dequantizes a tensor larger than one read step (8 MiB of blocks) identically in f32 and f16', async () => {
    const rows = 300;
    const cols = 32768; // Q8_0: 300 rows × 34 816 bytes ≈ 10 MB, so readRows takes two steps
    const x = new Float32Array(rows * cols);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.001) * (1 + (i % 97));
    const data = encodeGgml('Q8_0', x);
    const path = join(dir, 'big.gguf');
    await writeGguf(path, { metadata: {}, tensors: [{ name: 'big', type: 'Q8_0', shape: [rows, cols], data }] });
    const expected = new Float32Array(x.length);
    dequantizeToF32('Q8_0', data, expected);
    const g = await GgufFile.open(path);
    const got = (await g.read('big')) as Float32Array;
    expect(got.length).toBe(expected.length);
    let mismatches = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== expected[i]) mismatches++;
    expect(mismatches).toBe(0);
    await g.close();
    const h = await GgufFile.open(path, { dequantizeTo: 'f16' });
    const half = (await h.read('big')) as Uint16Array;
    const step = Math.floor((8 * 2 ** 20) / ((cols / 32) * 34)); // rows per read step: 240
    for (const i of [0, 1, step * cols - 1, step * cols, (step + 1) * cols + 5, x.length - 1])
      expect(half[i], `element ${i}`).toBe(f16Bits(expected[i]!));
    await h.close();
    await rm(path);
  });

  it('honours general.alignment', async () => {
    const path = join(dir, 'align.gguf');
    await writeGguf(path, { metadata, tensors: tensors.slice(4, 6), alignment: 64 });
    const g = await GgufFile.open(path);
    expect(g.header.alignment).toBe(64);
    expect(g.header.dataStart % 64).toBe(0);
    expect(Array.from(await g.read('output_norm.weight'))).toEqual(Array.from(tensors[4]!.values));
    await g.close();
  });

  it('agrees with the @huggingface/gguf parser on what our writer produced', async () => {
    const path = join(dir, 'cross.gguf');
    await writeGguf(path, { metadata, tensors });
    const ref = await referenceGguf(path, { allowLocalFile: true });
    const g = await GgufFile.open(path);
    expect(Number(ref.tensorDataOffset)).toBe(g.header.dataStart);
    expect(ref.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype, Number(t.offset)])).toEqual(
      g.header.tensors.map((t) => [t.name, t.dims, t.typeId, t.offset]),
    );
    // The reference returns every 64-bit integer as a bigint; we return numbers where exact.
    const same = (x: unknown) =>
      typeof x === 'bigint' && x <= BigInt(Number.MAX_SAFE_INTEGER) && x >= -BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(x)
        : x;
    for (const [k, v] of g.metadata) expect(same((ref.metadata as Record<string, unknown>)[k]), k).toEqual(v);
    expect(
      Object.keys(ref.metadata)
        .filter((k) => !['version', 'tensor_count', 'kv_count'].includes(k))
        .sort(),
    ).toEqual([...g.metadata.keys()].sort());
    await g.close();
  });

  it('lists tensors of types it cannot dequantize and explains on read', async () => {
    const q5 = { name: 'blk.0.ffn_up.weight', type: 'Q5_K' as const, shape: [1, 256], data: new Uint8Array(176) };
    const path = join(dir, 'q5k.gguf');
    await writeGguf(path, { metadata, tensors: [q5, tensors[4]!] });
    const g = await GgufFile.open(path);
    expect(g.unsupported.get('blk.0.ffn_up.weight')).toEqual({ ggmlType: 'Q5_K', shape: [1, 256] });
    const e = await rejection(g.read('blk.0.ffn_up.weight'));
    expect(e.message).toMatch(/'blk.0.ffn_up.weight': quantization type Q5_K is not supported/);
    expect(e.message).toMatch(/Tessera reads F32, F16, BF16, Q8_0, Q4_0, Q4_K/);
    await g.close();
  });
});

describe('malformed GGUF files', () => {
  const good = () =>
    encodeGguf({
      metadata: { 'general.architecture': 'llama' },
      tensors: [tensor('w', 'Q8_0', [2, 32]), tensor('n', 'F32', [4])],
    });
  const withU64At = (bytes: Uint8Array, at: number, v: bigint) => {
    const b = bytes.slice();
    new DataView(b.buffer).setBigUint64(at, v, true);
    return b;
  };
  const f32 = tensor('n', 'F32', [4]);
  const cases: [string, () => Uint8Array, RegExp, string?][] = [
    ['an empty file', () => new Uint8Array(0), /0 bytes long, shorter than a GGUF header/],
    ['bad magic', () => encodeGguf({ metadata: {}, tensors: [], magic: 'GGML' }), /bad magic "GGML"/],
    ['a safetensors file', () => new Uint8Array(64).fill(0x20), /bad magic/],
    ['version 1', () => encodeGguf({ metadata: {}, tensors: [], version: 1 }), /GGUF version 1 is not supported/],
    ['version 4', () => encodeGguf({ metadata: {}, tensors: [], version: 4 }), /GGUF version 4 is not supported/],
    [
      'a tensor count of 2^60',
      () => withU64At(good(), 8, 2n ** 60n),
      /tensor count is 1152921504606846976, impossible/,
    ],
    ['a KV count of 10^12', () => withU64At(good(), 16, 10n ** 12n), /metadata KV count is 1000000000000, impossible/],
    [
      'a key length of 2^62',
      () => withU64At(good(), 24, 2n ** 62n),
      /length of metadata key #0 is 4611686018427387904, impossible/,
    ],
    [
      'an unknown value type',
      () => {
        const b = good();
        new DataView(b.buffer).setUint32(24 + 8 + 20, 77, true);
        return b;
      },
      /unknown value type 77/,
    ],
    [
      'an array longer than the file',
      () => withU64At(encodeGguf({ metadata: { 'a.b': [1, 2] }, tensors: [] }), 24 + 11 + 4 + 4, 2n ** 40n),
      /length of metadata array 'a.b' is 1099511627776, impossible/,
    ],
    [
      'a duplicated key',
      () => {
        const b = encodeGguf({ metadata: { 'a.a': 1, 'a.b': 2 }, tensors: [] });
        const i = b.lastIndexOf(0x62);
        b[i] = 0x61;
        return b;
      },
      /metadata key 'a.a' appears twice/,
    ],
    [
      'an unknown ggml type',
      () => encodeGguf({ metadata: {}, tensors: [{ ...f32, typeId: 99 }] }),
      /unknown ggml type id 99/,
      'n',
    ],
    [
      '5 dimensions',
      () => encodeGguf({ metadata: {}, tensors: [{ ...f32, dims: [1n, 1n, 1n, 1n, 4n] }] }),
      /has 5 dimensions/,
      'n',
    ],
    [
      '10^12 elements',
      () => encodeGguf({ metadata: {}, tensors: [{ ...f32, dims: [10n ** 6n, 10n ** 6n] }] }),
      /needs 4000000000000 bytes at data offset 0, past the/,
      'n',
    ],
    [
      'dims of 2^60',
      () => encodeGguf({ metadata: {}, tensors: [{ ...f32, dims: [2n ** 60n] }] }),
      /dimension 0 of tensor 'n' is 1152921504606846976, impossible/,
    ],
    [
      'a row that is not whole blocks',
      () => encodeGguf({ metadata: {}, tensors: [{ ...tensor('q', 'Q8_0', [1, 32]), dims: [16n, 2n] }] }),
      /row length 16 is not a multiple of the Q8_0 block size 32/,
      'q',
    ],
    [
      'a misaligned offset',
      () => encodeGguf({ metadata: {}, tensors: [{ ...f32, offset: 4n }] }),
      /data offset 4 is not a multiple of the alignment 32/,
      'n',
    ],
    [
      'an offset past the end',
      () => encodeGguf({ metadata: {}, tensors: [{ ...f32, offset: 320n }] }),
      /past the 32 bytes of data/,
      'n',
    ],
    [
      'overlapping tensors',
      () =>
        encodeGguf({ metadata: {}, tensors: [tensor('a', 'F32', [16]), { ...tensor('b', 'F32', [8]), offset: 32n }] }),
      /overlaps tensor 'a'/,
      'b',
    ],
    [
      'a duplicated tensor name',
      () => encodeGguf({ metadata: {}, tensors: [f32, f32] }),
      /tensor name appears twice/,
      'n',
    ],
    [
      'an alignment that is not a power of two',
      () => encodeGguf({ metadata: {}, tensors: [f32], alignment: 24 }),
      /general.alignment must be a u32 power of two, got 24/,
    ],
    [
      'an alignment of the wrong type',
      () => encodeGguf({ metadata: { 'general.alignment': 'x' }, tensors: [] }),
      /general.alignment must be a u32/,
    ],
    [
      'truncated tensor data',
      () => good().subarray(0, good().length - 20),
      /needs 16 bytes at data offset 96, past the 108 bytes of data/,
      'n',
    ],
    [
      'a bool that is 2',
      () => {
        const b = encodeGguf({ metadata: { 'a.b': true }, tensors: [] });
        b[24 + 11 + 4] = 2;
        return b;
      },
      /metadata 'a.b' is a bool with byte value 2/,
    ],
    [
      'invalid UTF-8 in a key',
      () => {
        const b = encodeGguf({ metadata: { 'a.b': 1 }, tensors: [] });
        b[32] = 0xff;
        return b;
      },
      /metadata key #0 is not valid UTF-8/,
    ],
  ];
  for (const [label, make, message, tensorName] of cases) {
    it(`rejects ${label} with a clear error naming the file${tensorName ? ' and tensor' : ''}`, async () => {
      const path = await writeBytes(join(dir, `bad-${label.replace(/\W+/g, '-')}.gguf`), make());
      const e = await rejection(GgufFile.open(path));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toMatch(message);
      expect(e.message).toContain(path);
      expect((e as CheckpointError).tensor).toBe(tensorName);
    });
  }

  it('rejects a nested array', async () => {
    const b = encodeGguf({ metadata: { 'x.y': { kind: 'array', itemKind: 'u8', items: [] } }, tensors: [] });
    new DataView(b.buffer).setUint32(24 + 11 + 4, 9, true); // item type := ARRAY
    const path = await writeBytes(join(dir, 'nested.gguf'), b);
    expect((await rejection(GgufFile.open(path))).message).toMatch(/'x.y' is an array of arrays/);
  });

  it('rejects every truncation of the header with a CheckpointError', async () => {
    const bytes = encodeGguf({
      metadata: { ...metadata, 'big.u64': 5n },
      tensors: [tensor('w', 'Q4_K', [1, 256]), tensor('n', 'F32', [4])],
    });
    const dataStart = await (async () => {
      const p = await writeBytes(join(dir, 'whole.gguf'), bytes);
      const g = await GgufFile.open(p);
      await g.close();
      return g.header.dataStart;
    })();
    for (let cut = 0; cut < dataStart + 150; cut += 3) {
      const path = await writeBytes(join(dir, 'cut.gguf'), bytes.subarray(0, cut));
      const e = await rejection(GgufFile.open(path));
      expect(e, `cut at ${cut}`).toBeInstanceOf(CheckpointError);
    }
  });

  it('never crashes on random byte corruption: it opens or throws a CheckpointError', async () => {
    const r = new Rng(seed ^ 0x5eed);
    const bytes = encodeGguf({ metadata, tensors: [tensor('w', 'Q4_K', [1, 256]), tensor('n', 'F32', [4])] });
    for (let trial = 0; trial < 300; trial++) {
      const b = bytes.slice();
      for (let k = 0; k < 3; k++) b[r.int(0, 400)] = r.int(0, 255);
      const path = await writeBytes(join(dir, 'fuzz.gguf'), b);
      try {
        const g = await GgufFile.open(path);
        for (const name of g.tensors.keys()) await g.read(name);
        await g.close();
      } catch (e) {
        expect(e, `trial ${trial} (${seedNote(seed)})`).toBeInstanceOf(CheckpointError);
      }
    }
  });

  it('reads the bytes it validated: a header of ~128k vocabulary strings opens quickly', async () => {
    const tokens = Array.from({ length: 128_256 }, (_, i) => `tok${i}`);
    const path = join(dir, 'vocab.gguf');
    await writeGguf(path, {
      metadata: { 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.scores': tokens.map((_, i) => i / 7) },
      tensors: [],
    });
    const t0 = performance.now();
    const g = await GgufFile.open(path);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect((g.metadata.get('tokenizer.ggml.tokens') as string[])[128_255]).toBe('tok128255');
    await g.close();
    expect((await readFile(path)).byteLength).toBeGreaterThan(2 ** 20); // spans several read windows
  });
});
