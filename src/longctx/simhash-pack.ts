/**
 * Op `simhash_pack`: SimHash codes from projections computed on the device. Input: the rows'
 * projections on the L·K SimHash directions, f32 or f16 [rows, L·K] (a `matmul` against the
 * directions); output: u32 [rows, ⌈L/2⌉], table 2j's code in the low 16 bits of word j and table
 * 2j + 1's in the high bits (bit b of a code: projection b of that table > 0). Read back as u16 it
 * is the codes [rows][L] a KV stream stores, at a quarter of the bytes f16 projections would take.
 * f16 projections are read as packed pairs (`unpack2x16float`), so L·K must be even for them.
 */
import type { TensorDesc } from '../backends/backend.js';
import { uniformDecl } from '../kernels/wgsl-dtype.js';
import { defineOp } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import type { Rng } from '../util/rng.js';

const OP = 'simhash_pack';

export type SimhashPackAttrs = {
  readonly bits: number;
  readonly tables: number;
};

export function simhashPackGeometry(
  attrs: SimhashPackAttrs,
  inputs: readonly TensorDesc[],
): { rows: number; words: number; f16: boolean } {
  const { bits, tables } = attrs;
  if (!(Number.isInteger(bits) && bits >= 1 && bits <= 16)) throw new Error(`${OP}: bits must be 1…16, got ${bits}`);
  if (!(Number.isInteger(tables) && tables >= 1)) throw new Error(`${OP}: tables must be ≥ 1, got ${tables}`);
  if (inputs.length !== 1) throw new Error(`${OP}: takes 1 input (projections), ${inputs.length} given`);
  const p = inputs[0]!;
  if ((p.dtype !== 'f32' && p.dtype !== 'f16') || p.shape.length !== 2 || p.shape[1] !== bits * tables)
    throw new Error(`${OP}: projections must be f32 or f16 [rows, ${bits * tables}], got ${p.dtype} [${p.shape}]`);
  const f16 = p.dtype === 'f16';
  if (f16 && (bits * tables) % 2 !== 0)
    throw new Error(`${OP}: f16 projections are read in pairs, so L·K must be even`);
  return { rows: p.shape[0]!, words: Math.ceil(tables / 2), f16 };
}

/** The packed codes of decoded projections `p` [rows, L·K]. */
export function simhashPackReference(p: ArrayLike<number>, rows: number, bits: number, tables: number): Float64Array {
  const words = Math.ceil(tables / 2);
  const out = new Float64Array(rows * words);
  for (let r = 0; r < rows; r++)
    for (let t = 0; t < tables; t++) {
      let code = 0;
      for (let b = 0; b < bits; b++) if (p[r * bits * tables + t * bits + b]! > 0) code |= 1 << b;
      out[r * words + (t >> 1)]! += (t & 1 ? 65536 : 1) * code;
    }
  return out;
}

export const SIMHASH_PACK_WORKGROUP = 64;

export function simhashPackWgsl(f16: boolean): string {
  const load = f16
    ? `fn proj(e: u32) -> f32 { let v = unpack2x16float(p[e >> 1u]); return select(v.x, v.y, (e & 1u) == 1u); }`
    : `fn proj(e: u32) -> f32 { return p[e]; }`;
  return `@group(0) @binding(0) var<storage, read> p: array<${f16 ? 'u32' : 'f32'}>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
${uniformDecl(2, 4)}
${load}
fn code(r: u32, t: u32, bits: u32, tables: u32) -> u32 {
  var c = 0u;
  if (t >= tables) { return 0u; }
  let base = (r * tables + t) * bits;
  for (var b = 0u; b < bits; b += 1u) {
    if (proj(base + b) > 0.0) { c |= 1u << b; }
  }
  return c;
}
@compute @workgroup_size(${SIMHASH_PACK_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${SIMHASH_PACK_WORKGROUP}u + lid;
  let rows = uw(0u);
  let bits = uw(1u);
  let tables = uw(2u);
  let words = (tables + 1u) / 2u;
  if (i >= rows * words) { return; }
  let r = i / words;
  let j = i % words;
  out[i] = code(r, 2u * j, bits, tables) | (code(r, 2u * j + 1u, bits, tables) << 16u);
}`;
}

function cases(rng: Rng) {
  const shapes: [number, number, number, 'f32' | 'f16'][] = [
    [1, 3, 5, 'f32'],
    [37, 4, 7, 'f32'],
    [20, 10, 6, 'f16'],
    [65, 2, 3, 'f16'],
  ];
  return shapes.map(([rows, bits, tables, dt]) => ({
    label: `rows${rows} K${bits} L${tables} ${dt}`,
    attrs: { bits, tables },
    inputs: [randomInput(rng, dt, [rows, bits * tables])],
  }));
}

export const simhashPackOp = defineOp<SimhashPackAttrs>({
  name: OP,
  outputs: (attrs, inputs) => {
    const { rows, words } = simhashPackGeometry(attrs, inputs);
    return [{ dtype: 'u32', shape: [rows, words] }];
  },
  reference: (attrs, [p], inDescs) => {
    const { rows } = simhashPackGeometry(attrs, inDescs);
    return [simhashPackReference(p!, rows, attrs.bits, attrs.tables)];
  },
  cases,
  tolerance: () => ({ abs: 0, rel: 0 }),
});
