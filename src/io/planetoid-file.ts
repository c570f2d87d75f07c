/**
 * The planetoid graph files that `scripts/sparse/planetoid_convert.py` writes (`data/planetoid/`):
 * `<name>.json`, a header naming each array (dtype, shape, byte offset and length), and
 * `<name>.bin`, the little-endian arrays end to end. This module checks the header against the
 * blob and hands back typed-array views; what the arrays mean (CSR adjacency A + I, row-normalized
 * CSR features, labels, Kipf & Welling splits) is documented in data/planetoid/README.md.
 */
import type { Folder } from '../platform/byte-source.js';
import { platform } from '../platform/current.js';

export const PLANETOID_FORMAT = 'tessera-planetoid';

interface ArrayEntry {
  readonly dtype: 'i32' | 'f32';
  readonly shape: readonly number[];
  readonly offset: number;
  readonly bytes: number;
}

export interface PlanetoidHeader {
  readonly format: string;
  readonly version: number;
  readonly name: string;
  readonly nodes: number;
  readonly features: number;
  readonly classes: number;
  /** Directed edges of the symmetric graph without self loops. */
  readonly edges: number;
  readonly arrays: Readonly<Record<string, ArrayEntry>>;
}

export interface PlanetoidGraph {
  readonly name: string;
  readonly nodes: number;
  readonly features: number;
  readonly classes: number;
  readonly edges: number;
  /** A + I, binary, CSR over nodes with sorted columns. */
  readonly adjIndptr: Int32Array;
  readonly adjIndices: Int32Array;
  /** Row-normalized node features, CSR [nodes × features]. */
  readonly featIndptr: Int32Array;
  readonly featIndices: Int32Array;
  readonly featValues: Float32Array;
  /** Class per node, −1 where the source has none. */
  readonly labels: Int32Array;
  readonly train: Int32Array;
  readonly val: Int32Array;
  readonly test: Int32Array;
}

const fail = (name: string, msg: string): never => {
  throw new Error(`planetoid '${name}': ${msg}`);
};

function view(h: PlanetoidHeader, blob: Uint8Array, key: string, dtype: 'i32' | 'f32', len: number) {
  const e = h.arrays[key] ?? fail(h.name, `array '${key}' is missing from the header`);
  if (e.dtype !== dtype) fail(h.name, `'${key}' is ${e.dtype}, expected ${dtype}`);
  if (e.bytes !== len * 4 || e.shape.reduce((a, b) => a * b, 1) !== len)
    fail(h.name, `'${key}' holds ${e.bytes} bytes (shape [${e.shape}]), expected ${len} entries`);
  if (e.offset % 4 !== 0 || e.offset + e.bytes > blob.byteLength)
    fail(
      h.name,
      `'${key}' at byte ${e.offset} (+${e.bytes}) lies outside the ${blob.byteLength}-byte blob or is unaligned`,
    );
  // copied out so the arrays are aligned whatever the blob's own byte offset is
  const bytes = blob.slice(e.offset, e.offset + e.bytes);
  return dtype === 'i32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
}

const sizeOf = (h: PlanetoidHeader, key: string) =>
  h.arrays[key]?.shape[0] ?? fail(h.name, `array '${key}' is missing`);

/** Checks the header and the arrays' mutual consistency (CSR bounds, labels and split ranges). */
export function parsePlanetoid(h: PlanetoidHeader, blob: Uint8Array): PlanetoidGraph {
  if (h.format !== PLANETOID_FORMAT || h.version !== 1)
    fail(h.name, `format '${h.format}' version ${h.version}, expected '${PLANETOID_FORMAT}' version 1`);
  const n = h.nodes;
  const adjIndptr = view(h, blob, 'adj_indptr', 'i32', n + 1) as Int32Array;
  const adjIndices = view(h, blob, 'adj_indices', 'i32', sizeOf(h, 'adj_indices')) as Int32Array;
  const featIndptr = view(h, blob, 'feat_indptr', 'i32', n + 1) as Int32Array;
  const featNnz = sizeOf(h, 'feat_indices');
  const featIndices = view(h, blob, 'feat_indices', 'i32', featNnz) as Int32Array;
  const featValues = view(h, blob, 'feat_values', 'f32', featNnz) as Float32Array;
  const labels = view(h, blob, 'labels', 'i32', n) as Int32Array;
  const [train, val, test] = (['train', 'val', 'test'] as const).map(
    (k) => view(h, blob, k, 'i32', sizeOf(h, k)) as Int32Array,
  ) as [Int32Array, Int32Array, Int32Array];
  const checkCsr = (what: string, indptr: Int32Array, indices: Int32Array, cols: number) => {
    if (indptr[0] !== 0 || indptr[n] !== indices.length) fail(h.name, `${what}: indptr does not span its indices`);
    for (let i = 0; i < n; i++) if (indptr[i + 1]! < indptr[i]!) fail(h.name, `${what}: indptr decreases at row ${i}`);
    for (const c of indices) if (c < 0 || c >= cols) fail(h.name, `${what}: column ${c} outside 0..${cols - 1}`);
  };
  checkCsr('adjacency', adjIndptr, adjIndices, n);
  checkCsr('features', featIndptr, featIndices, h.features);
  for (const l of labels) if (l < -1 || l >= h.classes) fail(h.name, `label ${l} outside -1..${h.classes - 1}`);
  for (const s of [train, val, test])
    for (const i of s) if (i < 0 || i >= n) fail(h.name, `split node ${i} out of range`);
  return {
    name: h.name,
    nodes: n,
    features: h.features,
    classes: h.classes,
    edges: h.edges,
    adjIndptr,
    adjIndices,
    featIndptr,
    featIndices,
    featValues,
    labels,
    train,
    val,
    test,
  };
}

/** Reads `<name>.json` and `<name>.bin` from `location` (a path, a URL, or a `Folder`). */
export async function readPlanetoid(location: string | Folder, name: string): Promise<PlanetoidGraph> {
  const folder = typeof location === 'string' ? (await platform.locate(location)).folder : location;
  const text = await folder.readText(`${name}.json`);
  if (text === null) throw new Error(`planetoid '${name}': ${folder.locate(`${name}.json`)} does not exist`);
  const header = JSON.parse(text) as PlanetoidHeader;
  const src = await folder.open(`${name}.bin`);
  if (src === null) throw new Error(`planetoid '${name}': ${folder.locate(`${name}.bin`)} does not exist`);
  try {
    const blob = new Uint8Array(src.size);
    for (let at = 0; at < blob.byteLength; ) {
      const got = await src.read(at, blob.subarray(at));
      if (got === 0) throw new Error(`planetoid '${name}': ${src.name} ended at byte ${at} of ${src.size}`);
      at += got;
    }
    return parsePlanetoid(header, blob);
  } finally {
    await src.close();
  }
}
