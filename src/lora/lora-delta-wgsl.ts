/**
 * WGSL pieces of the `lora_delta` kernel (lora-delta-sliced.ts): its bindings, the per-member
 * accessors a workgroup picks by its member (`seg`), the walk from a workgroup's tile index to its
 * member, the row's rank from its slot and the normalised x.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { enables, loadF32, storageDecl } from '../kernels/wgsl-dtype.js';
import type { LoraDeltaGeometry } from './lora-delta.js';

type F16Caps = Pick<Capabilities, 'f16'>;

/** The `enable` lines for the geometry's dtypes. */
export const loraDeltaEnables = (g: LoraDeltaGeometry, caps: F16Caps) =>
  enables([g.act, g.weight, ...(g.normDtype !== undefined ? [g.normDtype] : [])], caps);

/**
 * Bindings from 0: x, [nw], row_slot, scale, then A, B, rank per member, then each member's output d.
 * Returns the declarations and the next free binding.
 */
export function loraDeltaBindings(g: LoraDeltaGeometry, caps: F16Caps): { decl: string[]; next: number } {
  let b = 0;
  const decl: string[] = [storageDecl(b++, 'x', g.act, caps, 'read')];
  if (g.normDtype !== undefined) decl.push(storageDecl(b++, 'nw', g.normDtype, caps, 'read'));
  decl.push(`@group(0) @binding(${b++}) var<storage, read> row_slot: array<i32>;`);
  decl.push(`@group(0) @binding(${b++}) var<storage, read> scale: array<f32>;`);
  for (let i = 0; i < g.widths.length; i++) {
    decl.push(storageDecl(b++, `a${i}`, g.weight, caps, 'read'));
    decl.push(storageDecl(b++, `b${i}`, g.weight, caps, 'read'));
    decl.push(`@group(0) @binding(${b++}) var<storage, read> rank${i}: array<i32>;`);
  }
  for (let i = 0; i < g.widths.length; i++)
    decl.push(`@group(0) @binding(${b++}) var<storage, read_write> d${i}: array<f32>;`);
  return { decl, next: b };
}

/** A WGSL body that runs `f(i)` for the member `seg` names (the last member's without a test). */
export function memberSwitch(members: number, f: (i: number) => string): string {
  return Array.from({ length: members }, (_, i) =>
    i + 1 < members ? `if (seg == ${i}u) { ${f(i)} }` : `{ ${f(i)} }`,
  ).join(' else ');
}

/** a_at, b_at, rank_at, width and put: member `seg`'s A, B, ranks, column count and output. */
export function memberAccessorsWgsl(g: LoraDeltaGeometry, caps: F16Caps): string {
  const pick = (f: (i: number) => string) => memberSwitch(g.widths.length, f);
  return `fn a_at(seg: u32, i: u32) -> f32 { ${pick((i) => `return ${loadF32(g.weight, caps, `a${i}`, 'i')};`)} }
fn b_at(seg: u32, i: u32) -> f32 { ${pick((i) => `return ${loadF32(g.weight, caps, `b${i}`, 'i')};`)} }
fn rank_at(seg: u32, s: u32) -> i32 { ${pick((i) => `return rank${i}[s];`)} }
fn width(seg: u32) -> u32 { ${pick((i) => `return ${g.widths[i]}u;`)} }
fn put(seg: u32, i: u32, v: f32) { ${pick((i) => `d${i}[i] = v;`)} }`;
}

/** Statements that move `var seg`/`var t` (member 0, tile index) to the member holding tile t of `tile` columns. */
export function segmentWalkWgsl(g: LoraDeltaGeometry, tile: number): string {
  return g.widths
    .map((N) => Math.ceil(N / tile))
    .slice(0, -1)
    .map((t, i) => `  if (seg == ${i}u && t >= ${t}u) { seg = ${i + 1}u; t -= ${t}u; }`)
    .join('\n');
}

/** `let rk`: the row's rank in member seg (0 for no adapter or a slot out of range), via `var<workgroup> wrank`. */
export const ROW_RANK_WGSL = `  if (lid == 0u) {
    let s0 = row_slot[row];
    var r = 0;
    if (s0 >= 0 && u32(s0) < uw(3u)) { r = rank_at(seg, u32(s0)); }
    wrank = min(u32(max(r, 0)), rmax);
  }
  let rk = workgroupUniformLoad(&wrank);`;

/** x̂[xb + k] for the shrink: x times the norm weight where the op normalises, else x. */
export function normedXWgsl(g: LoraDeltaGeometry, caps: F16Caps): string {
  const x = loadF32(g.act, caps, 'x', 'xb + k');
  return g.normDtype !== undefined ? `${x} * ${loadF32(g.normDtype, caps, 'nw', 'k')}` : x;
}
