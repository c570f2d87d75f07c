/**
 * The opening of the tiled quantized GEMMs (batched-wgsl.ts, quant-sgmat-wgsl.ts): a workgroup's
 * linear index names its output tile (m0, n0) of BM × BN and its slice [kb, ke) of K (u.kc values
 * a slice; slice s writes plane s of y, which is y itself when K is not split). A workgroup past M
 * or past K returns at once. Expects the uniform `u` with m, k, n, gx, tiles and kc, and `wid`.
 */
export function tileSliceWgsl(BM: number, BN: number): string {
  return `  let lin = wid.x + wid.y * u.gx;
  let tile = lin % u.tiles;
  let tilesN = (u.n + ${BN - 1}u) / ${BN}u;
  let m0 = (tile / tilesN) * ${BM}u;
  let n0 = (tile % tilesN) * ${BN}u;
  let slice = lin / u.tiles;
  let kb = slice * u.kc;
  let ke = min(u.k, kb + u.kc);
  if (m0 >= u.m || kb >= u.k) { return; }`;
}
