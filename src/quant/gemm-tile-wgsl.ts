/**
 * The frame of the quantized prefill GEMMs (gemm-wgsl.ts, w4a4-wgsl.ts): a T × T workgroup owns one
 * T × T tile of y, tiles numbered row-major over (m, n) and laid over a 2-D grid of width `u.gx`
 * (one dimension would pass the device's workgroup limit), each thread one element of the tile.
 * Both read `u.m`, `u.n` and `u.gx` from a uniform `u` and write f32 `y`.
 */

/** The entry point's signature and the tile's origin `m0`, `n0`; the body follows. */
export function gemmTileEntryWgsl(T: number): string {
  return `@compute @workgroup_size(${T}, ${T})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let tile = wid.x + wid.y * u.gx;
  let tilesN = (u.n + ${T - 1}u) / ${T}u;
  let m0 = (tile / tilesN) * ${T}u;
  let n0 = (tile % tilesN) * ${T}u;`;
}

/** Stores the thread's `acc` at its element of the tile, inside y, and closes the entry point. */
export const GEMM_TILE_STORE_WGSL = `  let m = m0 + lid.y;
  let n = n0 + lid.x;
  if (m < u.m && n < u.n) { y[m * u.n + n] = acc; }
}`;
