import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/io/errors.js';
import { openSafetensors } from '../../src/io/safetensors-checkpoint.js';
import {
  serializeSafetensors,
  writeSafetensors,
  writeSafetensorsLazily,
  type TensorToWrite,
} from '../../src/io/safetensors-writer.js';
import { loadEach } from '../../src/io/tensor-source.js';
import { toHost, type DType } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { rawSafetensors, rejection, tempFolder, writeBytes } from './helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function randomTensor(rng: Rng, dtype: DType, shape: number[]): TensorToWrite {
  const n = shape.reduce((a, b) => a * b, 1);
  const values =
    dtype === 'i8'
      ? Array.from({ length: n }, () => rng.int(-128, 127))
      : dtype === 'u8'
        ? Array.from({ length: n }, () => rng.int(0, 255))
        : dtype === 'i32'
          ? Array.from({ length: n }, () => rng.int(-2e9, 2e9))
          : rng.normals(n);
  return { dtype, shape, data: toHost(dtype, values) };
}

describe('safetensors round trip', () => {
  it('reads back every supported dtype, with metadata, by read, readInto, readRange and chunks', async () => {
    const rng = new Rng(7);
    const tensors = new Map<string, TensorToWrite>([
      ['model.embed_tokens.weight', randomTensor(rng, 'bf16', [11, 6])],
      ['model.norm.weight', randomTensor(rng, 'f32', [6])],
      ['half', randomTensor(rng, 'f16', [3, 5, 2])],
      ['bytes.signed', randomTensor(rng, 'i8', [7])],
      ['bytes.unsigned', randomTensor(rng, 'u8', [5])],
      ['ints', randomTensor(rng, 'i32', [3])],
      ['scalar', { dtype: 'f32', shape: [], data: new Float32Array([4.5]) }],
      ['empty', { dtype: 'f32', shape: [0, 3], data: new Float32Array(0) }],
    ]);
    const path = join(dir, 'round.safetensors');
    await writeSafetensors(path, tensors, { format: 'pt' });
    const ckpt = await openSafetensors(path);
    expect(ckpt.metadata).toEqual({ format: 'pt' });
    expect([...ckpt.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const info = ckpt.tensors.get(name)!;
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(info.byteLength).toBe(t.data.byteLength);
      const back = await ckpt.read(name);
      expect(back.constructor).toBe(t.data.constructor);
      expect(Array.from(back)).toEqual(Array.from(t.data));
    }
    const target = new Uint8Array(200).fill(0xee);
    expect(await ckpt.readInto('model.norm.weight', target)).toBe(24);
    expect(Array.from(new Float32Array(target.buffer.slice(0, 24)))).toEqual(
      Array.from(tensors.get('model.norm.weight')!.data),
    );
    expect(target[24]).toBe(0xee);

    const emb = tensors.get('model.embed_tokens.weight')!.data as Uint16Array;
    const window = new Uint8Array(10);
    await ckpt.readRange('model.embed_tokens.weight', 30, window);
    expect(Array.from(new Uint16Array(window.buffer))).toEqual(Array.from(emb.subarray(15, 20)));

    const pieces: number[] = [];
    const progress: number[] = [];
    for await (const { offset, bytes } of ckpt.chunks('model.embed_tokens.weight', 40, (p) =>
      progress.push(p.bytesDone),
    )) {
      expect(offset).toBe(pieces.length * 2);
      pieces.push(...new Uint16Array(bytes.buffer));
    }
    expect(pieces).toEqual(Array.from(emb));
    expect(progress).toEqual([40, 80, 120, 132]);
    await ckpt.close();
    expect((await rejection(ckpt.read('half'))).message).toMatch(/after close/);
  });

  it('serializes in memory exactly as it writes to disk, with an 8-byte-aligned data area', async () => {
    const t = new Map<string, TensorToWrite>([['a', { dtype: 'f16', shape: [3], data: new Uint16Array([1, 2, 3]) }]]);
    const bytes = serializeSafetensors(t);
    const path = join(dir, 'mem.safetensors');
    await writeSafetensors(path, t);
    const { readFile } = await import('node:fs/promises');
    expect(Buffer.compare(await readFile(path), Buffer.from(bytes))).toBe(0);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(bytes.byteLength).toBe(8 + n + 6);
  });

  it('writes lazily produced tensors and refuses data that does not match the layout', async () => {
    const path = join(dir, 'lazy.safetensors');
    await writeSafetensorsLazily(
      path,
      [
        { name: 'x', dtype: 'f32', shape: [2] },
        { name: 'y', dtype: 'i8', shape: [3] },
      ],
      (i) => (i === 0 ? new Float32Array([1, 2]) : new Int8Array([-1, 0, 1])),
    );
    const ckpt = await openSafetensors(path);
    expect(Array.from(await ckpt.read('y'))).toEqual([-1, 0, 1]);
    await ckpt.close();
    await expect(
      writeSafetensorsLazily(
        join(dir, 'bad.safetensors'),
        [{ name: 'x', dtype: 'f32', shape: [2] }],
        () => new Float32Array(3),
      ),
    ).rejects.toThrow(/produced 12 bytes/);
    expect(() => serializeSafetensors([['x', { dtype: 'f32', shape: [2, 2], data: new Float32Array(3) }]])).toThrow(
      /needs 16 bytes/,
    );
  });

  it('loadEach visits tensors one at a time and reports byte progress', async () => {
    const path = join(dir, 'each.safetensors');
    await writeSafetensors(path, [
      ['a', { dtype: 'f32', shape: [4], data: new Float32Array(4) }],
      ['b', { dtype: 'u8', shape: [8], data: new Uint8Array(8) }],
    ]);
    const ckpt = await openSafetensors(path);
    const seen: string[] = [];
    const progress: string[] = [];
    await loadEach(ckpt, (name, data) => void seen.push(`${name}:${data.byteLength}`), {
      onProgress: (p) => progress.push(`${p.tensorsDone}/${p.tensorsTotal} ${p.bytesDone}/${p.bytesTotal}`),
    });
    expect(seen).toEqual(['a:16', 'b:8']);
    expect(progress).toEqual(['1/2 16/24', '2/2 24/24']);
    await ckpt.close();
  });

  it('opens a 4 GiB tensor without reading it: data stays on disk until a range is asked for', async () => {
    const size = 2 ** 32;
    const header = JSON.stringify({ huge: { dtype: 'U8', shape: [size], data_offsets: [0, size] } });
    const path = join(dir, 'sparse.safetensors');
    const fh = await open(path, 'w');
    await fh.write(rawSafetensors(header));
    await fh.write(new Uint8Array([42]), 0, 1, 8 + header.length + 3 * 2 ** 30);
    await fh.truncate(8 + header.length + size); // sparse: costs no disk
    await fh.close();
    const ckpt = await openSafetensors(path);
    expect(ckpt.tensors.get('huge')!.byteLength).toBe(size);
    const window = new Uint8Array(4);
    await ckpt.readRange('huge', 3 * 2 ** 30 - 1, window);
    expect(Array.from(window)).toEqual([0, 42, 0, 0]);
    await ckpt.close();
    await rm(path);
  });
});

describe('sharded safetensors', () => {
  async function writeSharded(folder: string, index: unknown, shards: Record<string, Map<string, TensorToWrite>>) {
    await mkdir(folder, { recursive: true });
    for (const [name, tensors] of Object.entries(shards)) await writeSafetensors(join(folder, name), tensors);
    await writeFile(
      join(folder, 'model.safetensors.index.json'),
      typeof index === 'string' ? index : JSON.stringify(index),
    );
  }
  const f32 = (...v: number[]): TensorToWrite => ({ dtype: 'f32', shape: [v.length], data: new Float32Array(v) });
  const shardsAB = () => ({
    'model-00001-of-00002.safetensors': new Map([
      ['a', f32(1, 2)],
      ['b', f32(3)],
    ]),
    'model-00002-of-00002.safetensors': new Map([['c', f32(4, 5, 6)]]),
  });
  const goodMap = {
    a: 'model-00001-of-00002.safetensors',
    b: 'model-00001-of-00002.safetensors',
    c: 'model-00002-of-00002.safetensors',
  };

  it('merges shards listed by the index, opened from the folder or the index', async () => {
    const folder = join(dir, 'sharded');
    await writeSharded(folder, { metadata: { total_size: 24 }, weight_map: goodMap }, shardsAB());
    for (const path of [folder, join(folder, 'model.safetensors.index.json')]) {
      const ckpt = await openSafetensors(path);
      expect([...ckpt.tensors.keys()].sort()).toEqual(['a', 'b', 'c']);
      expect(ckpt.shards).toHaveLength(2);
      expect(ckpt.tensors.get('c')!.file).toBe(join(folder, 'model-00002-of-00002.safetensors'));
      expect(Array.from(await ckpt.read('c'))).toEqual([4, 5, 6]);
      expect(Array.from(await ckpt.read('a'))).toEqual([1, 2]);
      expect(ckpt.totalBytes).toBe(24);
      await ckpt.close();
    }
  });

  it('a folder with one model.safetensors opens it', async () => {
    const folder = join(dir, 'single');
    await mkdir(folder);
    await writeSafetensors(join(folder, 'model.safetensors'), [['x', f32(1)]]);
    const ckpt = await openSafetensors(folder);
    expect([...ckpt.tensors.keys()]).toEqual(['x']);
    await ckpt.close();
  });

  const bad: [string, unknown, RegExp, string | undefined][] = [
    ['bad-json', '{"weight_map": {', /not valid JSON/, undefined],
    ['no-map', { metadata: {} }, /no "weight_map"/, undefined],
    ['empty-map', { weight_map: {} }, /weight_map is empty/, undefined],
    [
      'missing-shard',
      { weight_map: { ...goodMap, c: 'model-00003-of-00003.safetensors' } },
      /shard 'model-00003-of-00003.safetensors'.*cannot be opened/,
      'c',
    ],
    [
      'missing-tensor',
      { weight_map: { ...goodMap, d: 'model-00002-of-00002.safetensors' } },
      /listed in the index.*no such tensor/,
      'd',
    ],
    ['unlisted-tensor', { weight_map: { a: goodMap.a, c: goodMap.c } }, /does not list it/, 'b'],
    [
      'moved-tensor',
      { weight_map: { ...goodMap, b: 'model-00002-of-00002.safetensors' } },
      /present in shard 'model-00001.*places it in 'model-00002/,
      'b',
    ],
    ['traversal', { weight_map: { a: '../../etc/passwd' } }, /leaves the checkpoint folder/, 'a'],
  ];
  for (const [label, index, message, tensor] of bad) {
    it(`rejects an index with ${label}, naming the file and tensor`, async () => {
      const folder = join(dir, `bad-${label}`);
      await writeSharded(folder, index, shardsAB());
      const e = await rejection(openSafetensors(folder));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toMatch(message);
      expect(e.message).toContain(folder);
      expect((e as CheckpointError).tensor).toBe(tensor);
    });
  }

  it('says what a folder without a checkpoint holds', async () => {
    const folder = join(dir, 'nothing');
    await mkdir(folder);
    expect((await rejection(openSafetensors(folder))).message).toMatch(
      /no unambiguous safetensors checkpoint \(found no .safetensors files\)/,
    );
    expect((await rejection(openSafetensors(join(dir, 'does-not-exist')))).message).toMatch(/cannot open/);
  });
});

describe('malformed safetensors files', () => {
  const t = (dtype: string, shape: number[], begin: number, end: number) => ({
    dtype,
    shape,
    data_offsets: [begin, end],
  });
  const cases: [string, Uint8Array, RegExp, string?][] = [
    ['an empty file', new Uint8Array(0), /0 bytes long, shorter than the 8-byte/],
    ['a 5-byte file', new Uint8Array(5), /5 bytes long/],
    [
      'a header length of 2^60',
      rawSafetensors({ a: t('F32', [1], 0, 4) }, 4, 2n ** 60n),
      /claims 1152921504606846976 bytes, above the 100000000-byte limit/,
    ],
    [
      'a header length past the end',
      rawSafetensors({ a: t('F32', [1], 0, 4) }, 0, 5000n),
      /claims 5000 bytes but only \d+ follow/,
    ],
    ['a header length that cuts the JSON', rawSafetensors({ a: t('F32', [1], 0, 4) }, 4, 10n), /not valid JSON/],
    ['a zero header length', rawSafetensors('', 0, 0n), /header length is 0/],
    ['a header that is not JSON', rawSafetensors('{nope}'), /not valid JSON/],
    ['a header that is an array', rawSafetensors('[1, 2]'), /does not start with '\{'/],
    [
      'a header that is not UTF-8',
      rawSafetensors(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])),
      /header is not valid UTF-8/,
    ],
    ['an entry that is not an object', rawSafetensors({ a: 3 }), /header entry is not an object/, 'a'],
    ['an unknown dtype', rawSafetensors({ a: t('F128', [1], 0, 16) }, 16), /unknown dtype "F128"/, 'a'],
    ['a negative dimension', rawSafetensors({ a: t('F32', [-1], 0, 4) }, 4), /not a non-negative integer/, 'a'],
    ['a fractional dimension', rawSafetensors({ a: t('F32', [1.5], 0, 4) }, 4), /not a non-negative integer/, 'a'],
    [
      '10^12 elements in 16 bytes',
      rawSafetensors({ a: t('F32', [1e6, 1e6], 0, 16) }, 16),
      /needs 4000000000000 bytes but data_offsets \[0, 16\] span 16/,
      'a',
    ],
    [
      '2^120 elements',
      rawSafetensors({ a: t('U8', [2 ** 40, 2 ** 40, 2 ** 40], 0, 4) }, 4),
      /needs 1329227995784915872903807060280344576 bytes/,
      'a',
    ],
    [
      'a dtype/shape mismatch',
      rawSafetensors({ a: t('F32', [2, 2], 0, 8) }, 8),
      /dtype F32 × shape \[2, 2\] needs 16 bytes but .* span 8/,
      'a',
    ],
    [
      'offsets past the data (truncated data)',
      rawSafetensors({ a: t('F32', [4], 0, 16) }, 12),
      /run past the end of the data area \(12 bytes\)/,
      'a',
    ],
    [
      'offsets beyond 2^53',
      rawSafetensors(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1e300,1e300]}}`),
      /not an increasing pair/,
      'a',
    ],
    ['decreasing offsets', rawSafetensors({ a: t('U8', [0], 4, 2) }, 4), /not an increasing pair/, 'a'],
    [
      'overlapping tensors',
      rawSafetensors({ a: t('F32', [2], 0, 8), b: t('F32', [2], 4, 12) }, 12),
      /overlap tensor 'a'/,
      'b',
    ],
    [
      'a gap between tensors',
      rawSafetensors({ a: t('F32', [1], 0, 4), b: t('F32', [1], 8, 12) }, 12),
      /bytes \[4, 8\) of the data area belong to no tensor/,
      'b',
    ],
    ['trailing bytes', rawSafetensors({ a: t('F32', [1], 0, 4) }, 9), /5 trailing bytes/],
    [
      'a bad __metadata__',
      rawSafetensors({ __metadata__: { format: 3 }, a: t('F32', [1], 0, 4) }, 4),
      /__metadata__\['format'\] is number/,
    ],
    ['missing data_offsets', rawSafetensors({ a: { dtype: 'F32', shape: [1] } }, 4), /data_offsets is missing/, 'a'],
  ];
  for (const [label, bytes, message, tensor] of cases) {
    it(`rejects ${label} with a clear error naming the file${tensor ? ' and tensor' : ''}`, async () => {
      const path = await writeBytes(join(dir, `bad-${label.replace(/\W+/g, '-')}.safetensors`), bytes);
      const e = await rejection(openSafetensors(path));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toMatch(message);
      expect(e.message).toContain(path);
      expect((e as CheckpointError).tensor).toBe(tensor);
    });
  }

  it('lists tensors of dtypes it does not read (I64, F64) and explains on read', async () => {
    const path = await writeBytes(
      join(dir, 'i64.safetensors'),
      rawSafetensors({ ids: t('I64', [2], 0, 16), w: t('F32', [1], 16, 20) }, 20),
    );
    const ckpt = await openSafetensors(path);
    expect([...ckpt.tensors.keys()]).toEqual(['w']);
    expect(ckpt.unsupported.get('ids')).toMatchObject({ fileDtype: 'I64', shape: [2] });
    const e = await rejection(ckpt.read('ids'));
    expect(e.message).toMatch(/'ids': dtype I64 is not supported/);
    expect((await rejection(ckpt.read('nope'))).message).toMatch(/'nope': no such tensor/);
    await ckpt.close();
  });

  it('fails a read cleanly when the file shrinks after it was opened', async () => {
    const path = join(dir, 'shrinks.safetensors');
    await writeSafetensors(path, [['a', { dtype: 'f32', shape: [1024], data: new Float32Array(1024) }]]);
    const ckpt = await openSafetensors(path);
    const fh = await open(path, 'r+');
    await fh.truncate(100);
    await fh.close();
    const e = await rejection(ckpt.read('a'));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(/unexpected end of file/);
    expect((e as CheckpointError).tensor).toBe('a');
    await ckpt.close();
  });
});
