/**
 * The tensor-core prefill template's tuning: a readonly configuration that travels from
 * BatchAttention's options through the op's attrs to the kernel and its WGSL generator. Each knob's
 * measurements and the schedules it selects are in docs/attention-tuning.md.
 */

export interface SgmatConfig {
  /** Keys per K/V tile: a multiple of 16 from 32 (48 only fits 64-row items). */
  readonly tileKeys: number;
  /** Rows per work item BatchAttention asks for (SGMAT_ROW_CHOICES); 64 where 128 does not fit. */
  readonly rows: number;
  /** Lazy-rescale threshold (log2) of the check mode and the in-step loop; 0 rescales at every max rise. */
  readonly rescaleLog2: number;
  /** Tests: the matrix builtins emulated per invocation, so the template runs on devices without them. */
  readonly emulate: boolean;
  /** Scores staged as vec4<f32> (16-byte workgroup accesses) instead of scalar f32. */
  readonly ssVec4: boolean;
  /** Tiles every row sees whole (causal or no mask) skip the per-score mask test. */
  readonly interiorNoMask: boolean;
  /** In-step loop: the K tile after next fetched right after staging (1.5 tiles ahead) instead of after P·V. */
  readonly earlyFetch: boolean;
  /** In-step loop: the next V fetched with the K after it, at the end of an iteration (overrides earlyFetch). */
  readonly lateV: boolean;
  /** In-step loop with lateV: the end-of-iteration fetches issued before P·V. */
  readonly fetchBeforePv: boolean;
  /** Of a softmax lane's TK/2 exps per tile, how many run as a cubic polynomial on the FMA units. */
  readonly polyExp: number;
  /** In-step loop: P·V of a tile runs a tile late, interleaved with the next tile's Q·Kᵀ. */
  readonly deferPv: boolean;
  /** Ping-pong: two halves of the subgroups a phase apart, one multiplying while the other runs its softmax. */
  readonly pingPong: boolean;
  /** The item's Q rows and first K tile fetched together before the item's first barrier. */
  readonly qAhead: boolean;
  /** Tiles every row sees whole (no logits hook, positive scale): each probability one FMA and one exp2. */
  readonly fastSoftmax: boolean;
  /**
   * Ping-pong without a logits hook: 'check' rescales the output lazily in the loop (a uniform flag
   * read per half per tile); 'restart' keeps no rescale in the loop and runs an item again, with
   * every row's true max as reference, when some row's scores climbed past restartLog2 +
   * restartHeadroom.
   */
  readonly rescaleMode: 'check' | 'restart';
  /** Restart mode: how far (log2) probabilities may exceed the reference before a restart (f16 exact to 2^15). */
  readonly restartLog2: number;
  /** Restart mode: the reference sits this far (log2) above a row's first visible tile max. */
  readonly restartHeadroom: number;
  /** Restart mode: the item's diagonal tiles first, then the rest from the first. */
  readonly diagFirst: boolean;
  /** Q rows a subgroup multiplies in Q·Kᵀ: 32 pairs two subgroups over halves of the keys (even key blocks). */
  readonly qkRows: 16 | 32;
  /** The same for P·V over halves of the head dim (even dim blocks). */
  readonly pvRows: 16 | 32;
  /**
   * Benchmarks only (wrong results): stages left out to see what they cost, '+'-joined from qk,
   * softmax, pv, fetch, barrier, kcol, pages, cached, onecase, uload, uload2, ucheap and gbar
   * (docs/attention-tuning.md lists what each removes).
   */
  readonly ablate: string;
}

/** The shipped H100 choices (docs/attention-tuning.md has the measurements behind each). */
export const SGMAT_DEFAULTS: SgmatConfig = Object.freeze({
  tileKeys: 32, // 128 rows × 32 keys fill the 48 KiB of workgroup memory
  rows: 128, // half the K/V global loads per row of 64-row items: 85 → 121 TFLOP/s at L4096
  rescaleLog2: 8, // P ≤ 2^8 stays well inside f16 while the reference max rarely moves
  emulate: false, // the real matrix builtins; emulation is for devices without them
  ssVec4: true, // scalar score staging measured 8× slower in the GEMM
  interiorNoMask: true, // whole tiles need no mask test
  earlyFetch: false, // measured the same as fetching after P·V (121 vs 123 TFLOP/s)
  lateV: true, // in-step loop with pairs: +13–20% at L4096–8192
  fetchBeforePv: false, // 16% slower
  polyExp: 0, // 2–8% slower: the softmax is bound by instruction issue, not the special-function unit
  deferPv: false, // nothing on top of lateV and pairs
  pingPong: true, // +29% at L8192 over the halves in step (a barrier waits for every load in flight)
  qAhead: true, // one exposed load latency per item instead of three: +2–7%
  fastSoftmax: true, // +1.5–2%
  rescaleMode: 'restart', // no flag or branch in the loop: +7% at L4096–8192
  restartLog2: 15, // the largest power of two exact in f16
  restartHeadroom: 6, // with diagFirst, 0.6% of the built-in model's items restart
  diagFirst: true, // each row's max usually sits on the diagonal or the sink tile
  qkRows: 32, // every K matrix read feeds two products: carries the pairs' gain
  pvRows: 16, // pairs in P·V: +2% at L8192 but −8% at L512–1024 (−3…−11% with ping-pong)
  ablate: '', // nothing left out
});

/** The defaults with `over` applied (a benchmark's or test's overrides). */
export function sgmatConfig(over: Partial<SgmatConfig> = {}): SgmatConfig {
  return Object.freeze({ ...SGMAT_DEFAULTS, ...over });
}
