/**
 * `uniformAt(seed, stream, counter)` of `util/rng.ts` in WGSL, bit for bit: PCG's output hash on
 * u32 (WGSL's u32 `*` and `+` wrap like `Math.imul`/`>>> 0`), then 24 bits scaled to [0, 1) —
 * exact in f32, so the GPU and CPU draw the same number.
 */
export const RNG_WGSL = /* wgsl */ `
fn tess_pcg_hash(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn tess_uniform_at(seed: u32, stream: u32, counter: u32) -> f32 {
  let h = tess_pcg_hash(tess_pcg_hash(tess_pcg_hash(seed) ^ stream) ^ counter);
  return f32(h >> 8u) / 16777216.0;
}
`;
