/**
 * The prefill template on tensor cores (f16 subgroup matrices, 16×16×16, f32 accumulate): work
 * items of 128 rows (eight subgroups of 32 lanes, 16 rows each; 64 rows and four subgroups where
 * 128 does not fit). Same schedule, items and partial-state layout as the f32 template; needs f16
 * q and KV.
 *
 * The shipped loop (pingPong) runs the subgroups as two halves a phase apart, FlashAttention-3's
 * ping-pong: per tile, phase 1 has half A multiply (P·V of the previous tile, Q·Kᵀ of this one)
 * while half B turns the previous tile's scores into probabilities, phase 2 the other way round,
 * phase 3 stages the K/V fetched at the top of the tile. The notes below up to session 5 describe
 * the loop with both halves in step, which the knobs still select.
 *
 * Where the time goes and why it is shaped so (H100 lessons, bench/anchors/gemm-notes.md):
 * - Subgroups keep their Q rows as left matrices and their output as result matrices in registers
 *   for the whole KV loop; per TK-key tile only K, V (16-byte staged, padded rows), the scores S
 *   (f32, as vec4) and P (f16) pass through workgroup memory. In Q·Kᵀ two subgroups share 32 rows
 *   (qkRows), each taking half the keys, so every K matrix read from workgroup memory feeds two
 *   products; Q is held by both (32 more registers). P·V can pair the same way over halves of the
 *   head dim (pvRows), which measured +2% at L8192 but −8% at L512–1024, so it is off.
 * - Rows per item set how often K/V cross from global memory: leaving the global loads out made
 *   64-row items 45–65% faster, and 128-row items (half the loads per row) took 85 → 121 TFLOP/s
 *   at L4096. 128 rows × 32 keys fill the 48 KiB of workgroup memory.
 * - Every matrix load/store offset in the loop is a compile-time constant (Dawn's robustness pass
 *   slows loads with run-time offsets ~2.5×): the few subgroup-dependent ones sit in a switch on
 *   the subgroup index, one unrolled copy per subgroup.
 * - Softmax runs on all lanes: two lanes per row, TK/2 keys each read as vec4s, the row max
 *   combined by one subgroup shuffle; tiles every row sees whole skip the mask test.
 * - The output is rescaled lazily (FlashAttention-4's trick): the reference max of a row moves only
 *   when a new score exceeds it by more than 2^RESCALE (so P ≤ 2^RESCALE, safe in f16), and only then
 *   do the result matrices take a round trip through workgroup memory. Data whose max settles early
 *   (the usual case) never pays for it; a workgroup-uniform flag says when some row did.
 * - K/V tiles are software-pipelined through registers: the next tile's global loads are issued a
 *   phase ahead and written to the single K and V buffers right after the barrier that frees them.
 *   Both are issued together at the end of an iteration (lateV), before the Q·Kᵀ phase.
 *   A tile's V fetch reuses the page numbers its K fetch looked up (the page-table read measured
 *   ~5% of the kernel; reusing them gained 1.5%). Reading K as a column-major right matrix costs
 *   nothing measurable against row-major (kcol ablation).
 *
 * H100, causal GQA 32/8 d128 (bench/results/attention-prefill-*-h100.json): 64-row items with
 * scalar scores ran 31–84 TFLOP/s; with vec4 scores and 128 rows 107–123 at L2048–8192. Ablations
 * at L8192 (docs/notes/2026-11-27-attention-exploration.md): 4.54 ms whole, 3.07 without the global K/V loads,
 * 2.52 without the matrix products, 2.02 without products and softmax — the one-stage K/V pipeline
 * alone is ~44% of the time, and deeper staging does not fit the 48 KiB of workgroup memory.
 * Random bench data settles its row max on the first tile, so lazy rescaling there never fires;
 * data whose max keeps climbing pays the round trip per rescaled tile.
 * Occupancy (session 4): grids of 132, 264 and 528 workgroups time the same, so one workgroup of
 * 256 invocations is resident per SM (by our count the Q and O matrices alone hold ~96 registers
 * per invocation; the driver does not report it).
 * Fetching K/V straight into workgroup memory to free the pipeline's registers was 5% slower and
 * still one per SM; 64-row items with it 37–42% slower (docs/notes/2026-11-27-attention-exploration.md).
 *
 * Session 5 (docs/notes/2026-11-27-attention-exploration.md, H100, L8192 unless said): pairs in both
 * products 4.28 ms vs 4.50 (16 rows); pairs with the late V fetch 3.74–3.77 vs 4.47–4.51 (+20%;
 * +13% at L4096, +6% at L2048, −2…6% at L512/1024). The late V fetch alone (16 rows) gains nothing,
 * and pairs in Q·Kᵀ carry the gain: pairs in P·V only 4.44, in Q·Kᵀ only 3.82–3.85 (and +8% at
 * L512/1024 over both, so that is the default). Tried and left off: P·V deferred a tile and interleaved with Q·Kᵀ (+3–8%
 * without the late V fetch, nothing with it), the fetches placed before P·V (−16%), exp2 as FMA
 * polynomials for 4/8/16 of a lane's 16 exps (−2/−4/−8%: the softmax is bound by instruction
 * issue, not the special-function unit), more plan shares at L1024 (−25%). What pairs in both
 * products still spend: 3.0 ms without global K/V loads, 3.26 with loads that stay in L1 (so ~0.5 ms is L2
 * latency the one-stage pipeline does not hide), 3.67 without the page-table read, 3.1 without
 * the softmax, 3.08 without any matrix product. Every knob that lengthens live ranges (earlier
 * fetches, deferral on top of pairs) lost, which points at register pressure, which Dawn does not
 * let us see or bound.
 *
 * Session 6 (docs/notes/2026-11-27-attention-exploration.md, H100) found the better explanation: a
 * workgroup barrier waits for every global load issued before it (presumably the memory barrier
 * that comes with WGSL's workgroupBarrier waits for all outstanding accesses). A fetch-only
 * skeleton took 1.04 ms at L8192 without its loads and 2.50 with them; loads issued just before a
 * barrier cost their whole latency, and a load is only hidden by the barrier-free stretch that
 * follows its issue. Hence the shipped schedule: ping-pong halves (pingPong) with the fetch at the
 * top of the iteration, 184.5 vs 142.7 TFLOP/s at L8192 (+29%; +21% L4096, +16% L2048, +9% L1024),
 * and Q with the first K tile fetched at once (qAhead, +2–7%). Left off, measured: ping-pong with
 * the fetch just before the staging barrier (−6% against the halves in step), V at the top and K
 * after the first barrier (−4%: two exposed latencies instead of one), pairs in P·V (−3…−11%),
 * 16 rows a subgroup in Q·Kᵀ (−4…−7%), 64-row items (−26…−35%), grids of 132 or 264 (the same),
 * page numbers looked up a tile ahead (+0.3–0.8%, within noise), output stores after all rounds
 * (−1…−4%), exp2 polynomials (−3…−6%), an L1 prefetch three tiles ahead (−3%: its own loads wait at
 * the next barrier), staging after the softmax (−1%), Dawn's disable_robustness toggle (−13%),
 * one copy of the unrolled loop for all subgroups (wrong results, +2–4%: instruction fetch is not
 * the problem), two tiles fetched every other iteration (−5…−8%: 16 more registers), the next
 * item's record read during the current one (−1%). Ablations of ping-pong (before qAhead) at L8192
 * (2.98 ms): 2.62 without the K/V fetch, 2.54 without the matrix products, 2.81 without the
 * softmax, 2.12 without fetch and products: the phases are bound by the half that multiplies, and
 * the fetch still costs ~12% (its latency exceeds the first phase it is issued in).
 *
 * Session 7 (docs/notes/2026-11-27-attention-exploration.md, H100, L8192): the lazy rescale's check
 * was the largest cost left. Each half reads a workgroup flag per tile (workgroupUniformLoad, which
 * Tint lowers to barrier, load, barrier) and branches to the output round trip. With one plain
 * barrier in its place the kernel ran 9% faster (2.59 vs 2.83 ms); with two plain barriers 6.5%;
 * with the flag read and a branch to nothing 3%; without the γ staging barrier no faster: the
 * branch on the flag costs most, the barrier count little. Neither a smaller rescale path (run-time
 * offsets: 2.5% slower) nor leaving the loop to rescale and re-entering it (13% slower) helped.
 * Hence restart mode (rescaleMode), with no rescale and no flag in the loop: 2.63 ms (+7%). Its
 * risk is items that run twice (every item twice: 5.03 ms). On the built-in model (the only trained
 * transformer we have; bench/anchors/attention_max_climb.py) half of the items would restart with
 * the first tile as the reference at 2^15, 11% at 2^21; with the diagonal tile as the reference (the
 * loop order restart mode uses) 0.6% at 2^21 (restartLog2 15 + restartHeadroom 6). That model has no
 * attention sink, so models that do should restart less once the sink tile comes second. Split-KV
 * chunks without the diagonal start from their last tile: 0.8% of such items at 2^21 there.
 * The FMA softmax (fastSoftmax) gained 1.5–2%. Measured and dropped: the next K/V fetched by one
 * ping-pong half (by B during its softmax, by A, or split between the halves' softmax or product
 * phases: 27–40% slower, though the same bytes move).
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { f16MatrixConfig } from '../backends/webgpu/capabilities.js';
import { PACK_WGSL } from '../kernels/wgsl-dtype.js';
import type { AttentionKernelParams } from './attention-wgsl.js';
import { maskBindings, variantDecls } from './attention-wgsl.js';
import { type MatrixOps, REAL_OPS, emulatedOps } from './sgmat-ops.js';
import { wgslF32 } from './variants.js';
import { NEG, NEG_INF, NEG_INF_DECL, kvRowFn, storeVec4, ATTENTION_BINDINGS_WGSL, workItemLoop } from './wgsl-kv.js';

/** Rows of a work item: 16 per subgroup of 32 lanes; 64 (4 subgroups) or 128 (8, half the K/V loads per row). */
export const SGMAT_ROW_CHOICES: readonly number[] = [64, 128];
/** Rows of the Q tile staged at once through the K/V buffer. */
const Q_PASS = 64;

/**
 * Knobs for benchmarks and tests (defaults are the H100-measured choices): keys per tile (32, or 48
 * with 64 rows), rows per item, the lazy-rescale threshold (log2 units; 0 rescales whenever a row
 * max grows), `emulate` (tests: exact per-invocation emulation of the matrix builtins, so the
 * template runs on devices without them) and the switches below.
 */
export const sgmatTuning: SgmatTuning = {
  tileKeys: 32,
  rows: 128,
  rescaleLog2: 8,
  emulate: false,
  ssVec4: true,
  interiorNoMask: true,
  earlyFetch: false,
  lateV: true,
  fetchBeforePv: false,
  polyExp: 0,
  deferPv: false,
  pingPong: true,
  qAhead: true,
  fastSoftmax: true,
  rescaleMode: 'restart',
  restartLog2: 15,
  restartHeadroom: 6,
  diagFirst: true,
  qkRows: 32,
  pvRows: 16,
  ablate: '',
};

export interface SgmatTuning {
  tileKeys: number;
  /** Rows per work item BatchAttention asks for (SGMAT_ROW_CHOICES); 64 where 128 does not fit. */
  rows: number;
  rescaleLog2: number;
  emulate: boolean;
  /**
   * Scores stored as vec4<f32> (16-byte workgroup accesses: the f32 result matrices' stores and the
   * softmax lanes' reads) instead of scalar f32 — the GEMM measured scalar staging 8× slower.
   */
  ssVec4: boolean;
  /** Tiles every row sees whole (causal or no mask) skip the per-score mask test. */
  interiorNoMask: boolean;
  /**
   * The K tile after next is fetched right after the K registers are staged (1.5 iterations ahead)
   * instead of after P·V. Measured the same on the H100 (121 vs 123 TFLOP/s at L4096), so off.
   */
  earlyFetch: boolean;
  /**
   * The next tile's V is fetched with the K of the tile after it, at the end of an iteration, instead
   * of right after the stage: both loads then land during the next Q·Kᵀ phase (with deferral, Q·Kᵀ
   * and P·V) rather than across the softmax. Overrides earlyFetch (the V fetch reuses the page
   * numbers the K fetch looked up, so K must come after it). With pairs +13–20% at L4096–8192 on the H100,
   * nothing with 16 rows a subgroup.
   */
  lateV: boolean;
  /**
   * With lateV (and P·V in step): the end-of-iteration fetches go before P·V, so P·V and Q·Kᵀ both
   * cover them. Measured 16% slower on the H100, so off.
   */
  fetchBeforePv: boolean;
  /**
   * Of the 16 probabilities a softmax lane makes per tile, how many take exp2 as a cubic polynomial
   * on the FMA units (FlashAttention-4's offload of the special-function unit): relative error
   * below 1e-4, under the f16 rounding of P. Measured 2–8% slower on the H100 (4–16 of 16), so 0.
   */
  polyExp: number;
  /**
   * P·V of a tile runs one tile late, in the same phase (between the same two barriers) as the next
   * tile's Q·Kᵀ, their matrix products interleaved, so each phase has independent products to
   * overlap; the buffers and barriers stay as they are (P and V of a tile are read before the
   * barrier that lets the next ones be written). +3–8% without the late V fetch, nothing with it
   * and pairs (the shipped schedule), so off.
   */
  deferPv: boolean;
  /**
   * FlashAttention-3's ping-pong: the subgroups split into two halves (rows 0…R/2 and the rest) that
   * run a phase apart, so that while one half multiplies (P·V of the previous tile interleaved with
   * Q·Kᵀ of this one) the other runs its softmax, and the tensor cores and the ALUs work at the same
   * time instead of in turns. Both halves read one tile's K and the previous tile's V across the two
   * phases, so staging gets a third phase (and barrier) of its own. The fetch of the next K and V is
   * issued at the top of the iteration, where the longest stretch without a barrier follows: on the
   * H100 a barrier waits for every load in flight before it (the same fetch issued just before the
   * staging barrier made ping-pong 6% slower than the halves in step; at the top, 29% faster).
   * earlyFetch, lateV, fetchBeforePv and deferPv shape the in-step loop only.
   */
  pingPong: boolean;
  /**
   * The item's Q rows (all passes) and first K tile are fetched at once, before the first barrier of
   * the item, instead of a Q pass at a time and K after: one exposed load latency per item instead of
   * three (+2–7% on the H100, most at short lengths, where items are short).
   */
  qAhead: boolean;
  /**
   * Softmax of tiles every row sees whole (no logits hook, positive scale): the max over the raw
   * scores, each probability one FMA and one exp2 (no scaled copy, no mask select), max and sum as
   * trees instead of chains. +1.5–2% on the H100.
   */
  fastSoftmax: boolean;
  /**
   * Ping-pong, variants without a logits hook: 'check' rescales the output lazily inside the loop
   * (a workgroup-uniform flag read and branch per half per tile); 'restart' keeps no rescale in the
   * loop: a row's first visible tile fixes its reference max, later probabilities may reach
   * 2^restartLog2 (exact in f16 up to 2^15), and an item where some row's scores climb further is
   * computed again from the start with every row's true max as its reference. Restart: +7% at
   * L4096–8192 on the H100 (no rescale or flag in the loop); an item that runs twice costs 2×.
   * rescaleLog2 is the check mode's threshold (and the step loop's).
   */
  rescaleMode: 'check' | 'restart';
  restartLog2: number;
  /**
   * Restart mode: the reference sits this far (log2) above a row's first visible tile max, so scores
   * may climb restartLog2 + restartHeadroom before the item restarts; the price is f16 precision for
   * probabilities more than 14 − restartHeadroom below the first max (their weight is under 2^-8).
   * Restart mode also takes the item's diagonal tiles first (the last tile for items without them),
   * then the rest from the first: with the sink tile second, each row's reference covers both places
   * its max usually is.
   */
  restartHeadroom: number;
  /** Restart mode: the diagonal tiles first (see restartHeadroom), or all tiles from the first. */
  diagFirst: boolean;
  /**
   * Q rows whose matrices a subgroup multiplies in Q·Kᵀ: 16, or 32 — two subgroups then share 32
   * rows, each taking half the keys, so every K matrix read from workgroup memory feeds two
   * products (Q is held twice: 32 more registers). Needs an even count of 16-key blocks.
   */
  qkRows: 16 | 32;
  /**
   * The same for P·V: with 32, two subgroups share 32 rows, each taking half the head dim, so every
   * V matrix read feeds two products (the O registers stay as many). Needs an even count of 16-dim
   * blocks; other shapes keep 16.
   */
  pvRows: 16 | 32;
  /**
   * Benchmarks only (wrong results): stages left out to see what they cost, '+'-joined from qk,
   * softmax, pv, fetch (global K/V loads), barrier (the mid-tile barrier and the rescale path), kcol
   * (K read as a row-major right matrix: what the column-major load costs) and pages (K/V rows
   * read as if the pages were in order: what the page-table lookup costs), cached (every tile
   * loads the same 16 rows of page 0, which stay in L1: what the loads cost beyond their issue) and
   * onecase (every subgroup runs subgroup 0's or 1's unrolled code: what eight copies cost) and
   * uload (ping-pong: a plain barrier for each rescale check, which workgroupUniformLoad makes two;
   * uload2: two plain barriers) and gbar (ping-pong: no barrier after staging).
   */
  ablate: string;
}

export function sgmatWhyUnsupported(
  caps: Capabilities,
  p: Pick<AttentionKernelParams, 'headDim' | 'qDtype' | 'kvDtype' | 'tileRows'>,
): string | null {
  if (!caps.subgroups) return 'needs subgroups';
  if (!sgmatTuning.emulate) {
    const cfg = f16MatrixConfig(caps, 'f32');
    if (!caps.f16 || !cfg || cfg.M !== 16 || cfg.N !== 16 || cfg.K !== 16) return 'no f16 16x16x16 subgroup matrices';
    if (caps.subgroupMinSize !== 32 || caps.subgroupMaxSize !== 32) return 'needs subgroups of exactly 32 lanes';
  } else if (caps.subgroupMinSize < 2) return 'needs subgroups of at least 2 lanes';
  if (p.qDtype !== 'f16' || p.kvDtype !== 'f16') return 'tensor-core path takes f16 q and KV';
  if (p.headDim % 16 !== 0 || p.headDim > 128)
    return `head dim ${p.headDim} (tensor-core path takes multiples of 16 up to 128)`;
  if (!SGMAT_ROW_CHOICES.includes(p.tileRows))
    return `tile of ${p.tileRows} rows (tensor-core path uses ${SGMAT_ROW_CHOICES.join(' or ')})`;
  if (sgmatSharedBytes(p.headDim, sgmatTuning.tileKeys, p.tileRows) > caps.maxComputeWorkgroupStorageSize)
    return 'not enough workgroup storage';
  return null;
}

/** Rows per work item a BatchAttention of this shape gets on the tensor-core prefill path (the tuned choice, else 64), or null. */
export function sgmatRowsFor(
  caps: Capabilities,
  cfg: { headDim: number; dtype: string; kvDtype?: string },
): number | null {
  for (const tileRows of [sgmatTuning.rows, 64]) {
    if (
      sgmatWhyUnsupported(caps, {
        headDim: cfg.headDim,
        qDtype: cfg.dtype as 'f16',
        kvDtype: (cfg.kvDtype ?? cfg.dtype) as 'f16',
        tileRows,
      }) === null
    )
      return tileRows;
  }
  return null;
}

/** Workgroup-memory geometry (element units: vec4<u32> of 8 halves for K/V/Q/P, f32 for S). */
function layout(d: number, tk: number, rows: number) {
  const LDK = d / 8 + 1; // one 16-byte element of padding per staged row, against bank conflicts
  const LDS = tk + 4; // column tk of a score row carries the row's rescale factor
  const LDP = tk / 8 + 1;
  const kvLen = Math.max(2 * tk, Q_PASS) * LDK; // K then V; the Q tile at item start, Q_PASS rows at a time
  return { LDK, LDS, LDP, kvLen, sLen: rows * LDS, pLen: rows * LDP };
}

export function sgmatSharedBytes(d: number, tk = sgmatTuning.tileKeys, rows = 64): number {
  const g = layout(d, tk, rows);
  // the last term: the two halves' rescale flags
  return 16 * g.kvLen + 4 * g.sLen + 16 * g.pLen + 8;
}

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * 2^x as 2^floor(x) · p(frac(x)), p a cubic fitted to 2^f on [0, 1) (relative error 8.6e-5); x is
 * clamped to -60, whose power is far below f16's smallest P and adds nothing to a row's sum.
 */
export const EXP2_FMA_WGSL = `fn exp2_fma(x: f32) -> f32 {
  let y = max(x, -60.0);
  let i = floor(y);
  let f = y - i;
  let p = fma(fma(fma(0.07705712, f, 0.22765582), f, 0.69511438), f, 1.0);
  return p * bitcast<f32>(u32(i + 127.0) << 23u);
}`;

export function sgmatAttentionWgsl(p: AttentionKernelParams, caps: Capabilities): string {
  const mo: MatrixOps = sgmatTuning.emulate ? emulatedOps() : REAL_OPS;
  const TK = sgmatTuning.tileKeys;
  if (TK % 16 !== 0 || TK < 32) throw new Error(`sgmat attention: ${TK} keys per tile (multiples of 16 from 32)`);
  const TH = sgmatTuning.rescaleLog2;
  const D = p.headDim;
  const DB = D / 16; // 16-wide blocks of the head dim
  const KB = TK / 16; // 16-key blocks of a tile
  const DC = D / 8; // 16-byte chunks per row
  const HK = TK / 2; // keys per softmax lane
  const R = p.tileRows;
  const NSG = R / 16; // subgroups
  const WG = 32 * NSG;
  const HALF = NSG / 2; // ping-pong: half A is the subgroups below HALF
  // which 16-row blocks, 16-key blocks (of Q·Kᵀ) and 16-dim blocks (of P·V and O) subgroup g multiplies
  // (Q·Kᵀ and P·V choose separately whether subgroup pairs share 32 rows)
  const qkPair = sgmatTuning.qkRows === 32 && KB % 2 === 0 && NSG % 2 === 0;
  const pair = sgmatTuning.pvRows === 32 && DB % 2 === 0 && NSG % 2 === 0;
  const NRQ = qkPair ? 2 : 1; // row blocks of Q·Kᵀ (Q matrices held, S matrices made)
  const NRB = pair ? 2 : 1; // row blocks of P·V (P matrices loaded, O matrices held)
  const NCB = pair ? DB / 2 : DB;
  // a pair is subgroups 2i and 2i+1: both take the pair's two row blocks, each its half of n blocks
  const rowsOf = (paired: boolean) => (g: number) => (paired ? [g & ~1, g | 1] : [g]);
  const halfOf = (paired: boolean, n: number) => (g: number) =>
    paired ? r(n / 2).map((k) => (g & 1) * (n / 2) + k) : r(n);
  const rowBlocks = rowsOf(pair);
  const qkRowBlocks = rowsOf(qkPair);
  const keyBlocks = halfOf(qkPair, KB);
  const colBlocks = halfOf(pair, DB);
  const { LDK, LDS, LDP, kvLen, sLen, pLen } = layout(D, TK, R);
  const V4 = sgmatTuning.ssVec4;
  const ab = sgmatTuning.ablate;
  const drop = (stage: string) => ab.split('+').includes(stage);
  const lateV = sgmatTuning.lateV;
  const early = sgmatTuning.earlyFetch && !lateV;
  const beforePv = lateV && sgmatTuning.fetchBeforePv && !sgmatTuning.deferPv;
  const defer = sgmatTuning.deferPv;
  // ping-pong halves need whole subgroup pairs each (NSG a multiple of 4), and subgroups no wider than
  // our 32-lane ones so that a half's branch is uniform in each (the softmax's shuffle runs in it)
  const pp = sgmatTuning.pingPong && NSG % 4 === 0 && caps.subgroupMaxSize <= 32;
  const qAhead = sgmatTuning.qAhead;

  // score-buffer offsets and strides count its elements: floats, or vec4s of 4 floats
  const so = (floats: number) => (V4 ? floats / 4 : floats);
  const LS = so(LDS);
  // tiles every row sees whole skip the mask test; only when the variant masks causally or not at all
  const interior =
    sgmatTuning.interiorNoMask &&
    !p.variant.customMask &&
    !(p.variant.windowLeft !== undefined && p.variant.windowLeft >= 0);
  const VOFF = TK * LDK;
  const group = p.numQoHeads / p.numKvHeads;
  const v = variantDecls(p);
  const NL = Math.ceil((TK * DC) / WG); // K (and V) chunks per invocation per tile
  const guard = (n: number) => (WG * (n + 1) > TK * DC ? `if (t + ${WG * n}u < ${TK * DC}u) ` : '');
  // a tile's K fetch looks its pages up and keeps them for the V fetch of the same tile, which follows
  const page = (n: number, kv: number) =>
    kv === 1 ? `pgs[${n}]` : `pgs[${n}] = ${drop('pages') ? 'j / PS' : 'u32(kv_indices[page_base + j / PS])'};`;
  const fetch = (reg: string, kv: number, kt: string) =>
    r(NL)
      .map(
        (n) => `    ${guard(n)}{
      let i = t + ${WG * n}u; let j = ${kt} + i / ${DC}u;
      var w = vec4<u32>(0u);
      ${drop('fetch') ? `if (j < k1) { w = vec4<u32>(j); }` : drop('cached') ? `if (j < k1) { w = pool[kv_row(0u, ${kv}u, (i / ${DC}u) % PS, 0u) / 8u + i % ${DC}u]; }` : `if (j < k1) { ${kv === 0 ? page(n, 0) : ''} w = pool[kv_row(${kv === 0 ? `pgs[${n}]` : page(n, 1)}, ${kv}u, j % PS, hk) / 8u + i % ${DC}u]; }`}
      ${reg}[${n}] = w;
    }`,
      )
      .join('\n');
  const stage = (reg: string, base: number) =>
    r(NL)
      .map(
        (n) =>
          `    ${guard(n)}{ let i = t + ${WG * n}u; kvs[${base}u + (i / ${DC}u) * ${LDK}u + i % ${DC}u] = ${reg}[${n}]; }`,
      )
      .join('\n');
  // rows × D/4 words of a staged tile rewritten through qk_transform: word w pairs with word w + D/4
  const transform = (
    rows: number,
    base: string,
    pos: string,
    isKey: boolean,
  ) => `for (var i = t; i < ${rows * (D / 4)}u; i += ${WG}u) {
      let row = i / ${D / 4}u; let wd = i % ${D / 4}u; let wp = wd + ${D / 4}u; let d0 = 2u * wd;
      let pos = ${pos};
      let ia = ${base} + row * ${LDK}u + wd / 4u; let ib = ${base} + row * ${LDK}u + wp / 4u;
      let a = unpack2x16float(kvs[ia][wd % 4u]); let b = unpack2x16float(kvs[ib][wp % 4u]);
      let na = vec2<f32>(qk_transform(a.x, b.x, d0, pos, ${isKey}), qk_transform(a.y, b.y, d0 + 1u, pos, ${isKey}));
      let nb = vec2<f32>(qk_transform(b.x, a.x, d0 + ${D / 2}u, pos, ${isKey}), qk_transform(b.y, a.y, d0 + ${D / 2 + 1}u, pos, ${isKey}));
      kvs[ia][wd % 4u] = pack2x16float(na); kvs[ib][wp % 4u] = pack2x16float(nb);
    }`;
  // (ablation onecase: every subgroup runs the code of subgroup 0 or 1, to see what eight copies of the loop cost in instruction fetch)
  const perSgIn = (gs: number[], body: (g: number) => string) => `switch (sg${drop('onecase') ? ' % 2u' : ''}) {
${(drop('onecase') ? [0, 1] : gs).map((g) => `      case ${g}u: {\n${body(g)}\n      }`).join('\n')}
      default: {}
    }`;
  const perSg = (body: (g: number) => string) => perSgIn(r(NSG), body);
  // subgroups of Q pass `pass` load their left matrices from the staged rows
  const qLoad = (pass: number) =>
    perSg((g) =>
      qkRowBlocks(g)
        .map((rb, i) =>
          Math.floor((rb * 16) / Q_PASS) !== pass
            ? ''
            : r(DB)
                .map(
                  (db) =>
                    `        q${i}_${db} = ${mo.load('left', 'kvs', (rb * 16 - pass * Q_PASS) * LDK + db * 2, LDK, false, `q${i}_${db}`)};`,
                )
                .join('\n'),
        )
        .join('\n'),
    );
  // one right matrix (a K or V block) times the left matrices of each of the subgroup's row blocks
  const products = (n: number, right: string, left: (i: number) => string, acc: (i: number) => string) =>
    n === 1
      ? `        ${acc(0)} = ${mo.mma(left(0), right, acc(0))};`
      : `        rm = ${right};\n${r(n)
          .map((i) => `        ${acc(i)} = ${mo.mma(left(i), 'rm', acc(i))};`)
          .join('\n')}`;
  const rightLoad = (n: number, off: number, colMajor: boolean) =>
    mo.load('right', 'kvs', off, LDK, colMajor, n === 1 ? undefined : 'rm');
  const rmDecl = NRB === 1 && NRQ === 1 ? '' : `        ${mo.declare('rm', 'right')}`;
  // S = Q·Kᵀ, one 16-key block at a time, stored to the score rows
  // (score matrices are named by their index among the subgroup's key blocks: the same names in every case)
  const qkDecl = (g: number) =>
    r(NRQ)
      .map((i) =>
        keyBlocks(g)
          .map((_, k) => `        ${mo.declare(`s${i}_${k}`, 'result')}`)
          .join('\n'),
      )
      .join('\n');
  const qkSteps = (g: number) =>
    drop('qk')
      ? []
      : r(DB).flatMap((db) =>
          keyBlocks(g).map((kb, k) =>
            products(
              NRQ,
              rightLoad(NRQ, kb * 16 * LDK + db * 2, !drop('kcol')),
              (i) => `q${i}_${db}`,
              (i) => `s${i}_${k}`,
            ),
          ),
        );
  const qkStore = (g: number) =>
    qkRowBlocks(g)
      .map((rb, i) =>
        keyBlocks(g)
          .map((kb, k) => `        ${mo.store('ss', so(rb * 16 * LDS + kb * 16), `s${i}_${k}`, LS)}`)
          .join('\n'),
      )
      .join('\n');
  // O += P·V: the P rows as left matrices, then one V block at a time
  const pvLoad = (g: number) =>
    rowBlocks(g)
      .map((rb, i) =>
        r(KB)
          .map(
            (kb) =>
              `        ${mo.declare(`p${i}_${kb}`, 'left')} p${i}_${kb} = ${mo.load('left', 'ps', rb * 16 * LDP + kb * 2, LDP, false, `p${i}_${kb}`)};`,
          )
          .join('\n'),
      )
      .join('\n');
  const pvSteps = (g: number) =>
    drop('pv')
      ? []
      : colBlocks(g).flatMap((db, j) =>
          r(KB).map((kb) =>
            products(
              NRB,
              rightLoad(NRB, VOFF + kb * 16 * LDK + db * 2, false),
              (i) => `p${i}_${kb}`,
              (i) => `o${i}_${j}`,
            ),
          ),
        );
  const qk = perSg((g) => [qkDecl(g), rmDecl, ...qkSteps(g), qkStore(g)].join('\n'));
  const pv = perSg((g) => [pvLoad(g), rmDecl, ...pvSteps(g)].join('\n'));
  // deferred P·V: the previous tile's P·V steps alternate with this tile's Q·Kᵀ steps in one phase
  const zip = (a: string[], b: string[]) =>
    r(Math.max(a.length, b.length)).flatMap((i) => [a[i], b[i]].filter((x): x is string => x !== undefined));
  const qkPv = perSg((g) => [qkDecl(g), pvLoad(g), rmDecl, ...zip(qkSteps(g), pvSteps(g)), qkStore(g)].join('\n'));
  // result matrices pass through the score rows in rounds of two 16-column slots (columns 0-15 and
  // 16-31): with 16 rows a subgroup, dim blocks 2k and 2k+1 in round k; with 32, each subgroup of a
  // pair puts block k of its dim half in its slot, for both its row blocks
  const rounds = r(pair ? NCB : Math.ceil(DB / 2)).map((k) => ({
    slots: pair ? 2 : Math.min(2, DB - 2 * k),
    db: pair ? `h * ${NCB}u + ${k}u` : `${2 * k}u + h`,
    // (matrix, row block, slot) of subgroup g
    mats: (g: number) =>
      pair
        ? rowBlocks(g).map((rb, i) => [`o${i}_${k}`, rb, g & 1] as const)
        : r(Math.min(2, DB - 2 * k)).map((s) => [`o0_${2 * k + s}`, g, s] as const),
  }));
  type Round = (typeof rounds)[number];
  const oToShared = (rd: Round, gs = r(NSG)) =>
    perSgIn(gs, (g) =>
      rd
        .mats(g)
        .map(([m, rb, s]) => `        ${mo.store('ss', so(rb * 16 * LDS + 16 * s), m, LS)}`)
        .join('\n'),
    );
  const oFromShared = (rd: Round, gs = r(NSG)) =>
    perSgIn(gs, (g) =>
      rd
        .mats(g)
        .map(([m, rb, s]) => `        ${m} = ${mo.load('result', 'ss', so(rb * 16 * LDS + 16 * s), LS, false, m)};`)
        .join('\n'),
    );
  // the result matrices of subgroups gs (lanes passing `lanes`) scaled by their rows' factors
  const rescaleOf = (gs: number[], lanes: string) =>
    rounds
      .map(
        (rd) => `      ${oToShared(rd, gs)}
      workgroupBarrier();
      if (h < ${rd.slots}u${lanes}) {
        ${
          V4
            ? `let a = ss[lr * ${LS}u + ${TK / 4}u].x;
        for (var k = 0u; k < 4u; k++) { ss[lr * ${LS}u + h * 4u + k] *= a; }`
            : `let a = ss[lr * ${LDS}u + ${TK}u];
        for (var c = 0u; c < 16u; c++) { ss[lr * ${LDS}u + h * 16u + c] *= a; }`
        }
      }
      workgroupBarrier();
      ${oFromShared(rd, gs)}
      workgroupBarrier();`,
      )
      .join('\n');
  const rescale = rescaleOf(r(NSG), '');
  const scale = v.logits ? 'SCALE' : `${wgslF32(p.scale * Math.LOG2E)}`;
  // this lane's HK raw scores: HK/4 vec4 reads, or HK scalar ones
  const raw = (c: number) => (V4 ? `sv${c >> 2}[${c & 3}]` : `ss[sb + ${c}u]`);
  const scored = (
    kx: string,
    c: number,
    test: string,
  ) => `      { let j = ${kx} + h * ${HK}u + ${c}u; let kpos = i32(j);
        if (${test}) { var s = ${raw(c)} * ${scale}; ${v.logits ? `${v.logits} s = s * LOG2E;` : ''} s${c} = s; } }`;
  const masked = (kx: string) =>
    r(HK)
      .map((c) => scored(kx, c, `row_ok && j < k1 && (${v.mask})`))
      .join('\n');
  // rows past r1 score zero here (their Q is zero) and are never stored
  const unmasked = (kx: string) =>
    r(HK)
      .map((c) => scored(kx, c, 'true'))
      .join('\n');
  // fastSoftmax: tiles every row sees whole keep the raw scores (max taken raw, then scaled: the same
  // value for a positive scale) and make each probability with one FMA
  const fast = sgmatTuning.fastSoftmax && interior && !v.logits && p.scale > 0 && !drop('softmax');
  const tree = (xs: string[], op: (a: string, b: string) => string): string =>
    xs.length === 1
      ? xs[0]!
      : tree(
          r(Math.ceil(xs.length / 2)).map((i) =>
            xs[2 * i + 1] === undefined ? xs[2 * i]! : op(xs[2 * i]!, xs[2 * i + 1]!),
          ),
          op,
        );
  const sNames = r(HK).map((c) => `s${c}`);
  const maxOf = (xs: string[]) =>
    fast
      ? `      mx = ${tree(xs, (a, b) => `max(${a}, ${b})`)};`
      : xs.map((x) => `      mx = max(mx, ${x});`).join('\n');
  const full = (kx: string) => `${kx} + ${TK}u <= k_full`;
  const scores = (kx: string) =>
    drop('softmax')
      ? r(HK)
          .map((c) => `      let s${c} = 0.0;`)
          .join('\n')
      : `${r(HK)
          .map((c) => `      var s${c} = ${NEG};`)
          .join('\n')}
${
  V4
    ? r(HK / 4)
        .map((k) => `      let sv${k} = ss[sb + ${k}u];`)
        .join('\n')
    : ''
}
      ${
        fast
          ? `if (${full(kx)}) {
${r(HK)
  .map((c) => `        s${c} = ${raw(c)};`)
  .join('\n')}
  ${maxOf(sNames)}
        mx = mx * ${scale};
      } else {
${masked(kx)}
  ${maxOf(sNames)}
      }`
          : `${
              interior
                ? `if (${full(kx)}) {
${unmasked(kx)}
      } else {
${masked(kx)}
      }`
                : masked(kx)
            }
${maxOf(sNames)}`
      }`;
  const PE = Math.max(0, Math.min(HK, sgmatTuning.polyExp));
  const ex = (c: number) => (c < PE ? 'exp2_fma' : 'exp2');
  const probsMasked = r(HK)
    .map((c) =>
      drop('softmax')
        ? `      let p${c} = s${c};`
        : `      let p${c} = select(0.0, ${ex(c)}(s${c} - m_run), s${c} > ${NEG});`,
    )
    .join('\n');
  const probs = (kx: string) =>
    fast
      ? `${r(HK)
          .map((c) => `      var p${c}: f32;`)
          .join('\n')}
      if (${full(kx)}) {
        let nm = -m_run;
${r(HK)
  .map((c) => `        p${c} = ${ex(c)}(fma(s${c}, ${scale}, nm));`)
  .join('\n')}
      } else {
${r(HK)
  .map((c) => `        p${c} = select(0.0, ${ex(c)}(s${c} - m_run), s${c} > ${NEG});`)
  .join('\n')}
      }`
      : probsMasked;
  const pSum = fast
    ? tree(
        r(HK).map((c) => `p${c}`),
        (a, b) => `(${a} + ${b})`,
      )
    : r(HK)
        .map((c) => `p${c}`)
        .join(' + ');
  const packP = r(HK / 8)
    .map(
      (w) =>
        `      ps[lr * ${LDP}u + h * ${HK / 8}u + ${w}u] = vec4<u32>(${r(4)
          .map((k) => `pack2x16float(vec2<f32>(p${8 * w + 2 * k}, p${8 * w + 2 * k + 1}))`)
          .join(', ')});`,
    )
    .join('\n');
  // this lane's half row of the tile at kx: scores → running max (a rise past the threshold sets
  // `flag`, the factor goes to the row's spare score column) → probabilities in ps
  // restart mode: no rescale in the loop (see rescaleMode)
  const restart = pp && sgmatTuning.rescaleMode === 'restart' && !v.logits;
  const RT = sgmatTuning.restartLog2;
  const HR = sgmatTuning.restartHeadroom;
  const softmax = (kx: string, flag: string) =>
    restart
      ? `      var mx = ${NEG};
${scores(kx)}
      mx = max(mx, subgroupShuffleXor(mx, 1u));
      m_seen = max(m_seen, mx);
      if (m_run == ${NEG}) { if (mx > ${NEG}) { m_run = mx + ${wgslF32(HR)}; } } else if (mx > m_run + ${wgslF32(RT)}) { restart = 1u; }
${probs(kx)}
      l_run += ${pSum};
${packP}`
      : `      var mx = ${NEG};
${scores(kx)}
      mx = max(mx, subgroupShuffleXor(mx, 1u));
      var alpha = 1.0;
      if (mx > m_run + ${wgslF32(TH)}) {
        if (m_run > ${NEG}) { alpha = exp2(m_run - mx); ${flag} = 1u; }
        m_run = mx;
      }
${probs(kx)}
      l_run = l_run * alpha + ${pSum};
${packP}
      if (h == 0u) { ${V4 ? `ss[lr * ${LS}u + ${TK / 4}u].x = alpha;` : `ss[lr * ${LDS}u + ${TK}u] = alpha;`} }`;
  const outputRound = (rd: Round, first: boolean) => `    ${oToShared(rd)}
    workgroupBarrier();
    if (row_ok && h < ${rd.slots}u) {
      let db = ${rd.db};
${r(4)
  .map((k) =>
    V4
      ? `      var v${k} = ss[lr * ${LS}u + h * 4u + ${k}u] * inv;`
      : `      var v${k} = vec4<f32>(${r(4)
          .map((e) => `ss[lr * ${LDS}u + h * 16u + ${4 * k + e}u]`)
          .join(', ')}) * inv;`,
  )
  .join('\n')}
      if (slot < 0) {
${r(4)
  .map(
    (k) => `        ${v.output ? `for (var z = 0u; z < 4u; z++) { var o = v${k}[z]; ${v.output} v${k}[z] = o; }` : ''}
        ${storeVec4(p.oDtype, 'o_out', `orow * ${D}u + db * 16u + ${4 * k}u`, `v${k}`)}`,
  )
  .join('\n')}
        ${first ? 'if (h == 0u) { lse_out[orow] = lse; }' : ''}
      } else {
        let tr = u32(slot) + lr;
${r(4)
  .map((k) => `        tmp_o[tr * ${D / 4}u + db * 4u + ${k}u] = v${k};`)
  .join('\n')}
        ${first ? 'if (h == 0u) { tmp_lse[tr] = lse; }' : ''}
      }
    }
    workgroupBarrier();`;
  // Q rows (left) and the output (result) of this subgroup, kept for the whole item
  const matrices = [
    ...r(NRQ).flatMap((i) => r(DB).map((db) => `  ${mo.declare(`q${i}_${db}`, 'left')}`)),
    ...r(NRB).flatMap((i) => r(NCB).map((j) => `  ${mo.declare(`o${i}_${j}`, 'result')}`)),
  ].join('\n');
  // the Q tile → left matrices (rows past r1 are zero), Q_PASS rows at a time through the K/V buffer
  const qRow = (pass: number, i: string) => `let rr = r0 + ${pass * Q_PASS}u + ${i} / ${DC}u;`;
  const qWord = (i: string) =>
    `if (rr < r1) { w = q[((q_start + rr / GRP) * HQ + hk * GRP + rr % GRP) * ${DC}u + ${i} % ${DC}u]; }`;
  const qPassTail = (pass: number) => `    workgroupBarrier();
    ${v.transform ? `${transform(Q_PASS, '0u', `kv_len - q_len + i32((r0 + ${pass * Q_PASS}u + row) / GRP)`, false)}\n    workgroupBarrier();` : ''}
    ${qLoad(pass)}`;
  const qPrologue = `// the Q tile → left matrices (rows past r1 are zero), ${Q_PASS} rows at a time through the K/V buffer
${r(R / Q_PASS)
  .map(
    (pass) => `    ${pass > 0 ? 'workgroupBarrier();' : ''}
    for (var i = t; i < ${Q_PASS * DC}u; i += ${WG}u) {
      ${qRow(pass, 'i')}
      var w = vec4<u32>(0u);
      ${qWord('i')}
      kvs[(i / ${DC}u) * ${LDK}u + i % ${DC}u] = w;
    }
${qPassTail(pass)}`,
  )
  .join('\n')}`;
  // qAhead: every Q pass's loads and the first K tile's are issued together, so the item start waits
  // on one global load latency instead of one per Q pass and one for K (a barrier waits for the loads before it)
  const NQ = Math.ceil((Q_PASS * DC) / WG);
  const qGuard = (n: number) => (WG * (n + 1) > Q_PASS * DC ? `if (t + ${WG * n}u < ${Q_PASS * DC}u) ` : '');
  const qPrologueAhead = `// the Q tile → left matrices (rows past r1 are zero): all of it loaded into registers with the first K tile,
    // then ${Q_PASS} rows at a time through the K/V buffer
    var qw: array<vec4<u32>, ${(R / Q_PASS) * NQ}>;
${r(R / Q_PASS)
  .flatMap((pass) =>
    r(NQ).map(
      (n) =>
        `    ${qGuard(n)}{ let i = t + ${WG * n}u; ${qRow(pass, 'i')} var w = vec4<u32>(0u); ${qWord('i')} qw[${pass * NQ + n}] = w; }`,
    ),
  )
  .join('\n')}
${fetch('rk', 0, pp ? 'k_first' : 'k0')}
${r(R / Q_PASS)
  .map(
    (pass) => `    ${pass > 0 ? 'workgroupBarrier();' : ''}
${r(NQ)
  .map(
    (n) =>
      `    ${qGuard(n)}{ let i = t + ${WG * n}u; kvs[(i / ${DC}u) * ${LDK}u + i % ${DC}u] = qw[${pass * NQ + n}]; }`,
  )
  .join('\n')}
${qPassTail(pass)}`,
  )
  .join('\n')}`;
  // the K/V loop, both halves in step: Q·Kᵀ | stage, softmax | P·V, fetch (two barriers a tile)
  const stepLoop = `    for (var kt = k0; kt < k1; kt += ${TK}u) {
    ${defer ? qkPv : qk}
      workgroupBarrier();
      // every read of K and V of the previous phase is done: stage this tile's V and the next tile's K
${stage('rv', VOFF)}
      if (kt + ${TK}u < k1) {
${stage('rk', 0)}
${lateV ? '' : fetch('rv', 1, `kt + ${TK}u`)}
      }
      ${
        early
          ? `if (kt + ${2 * TK}u < k1) {
${fetch('rk', 0, `kt + ${2 * TK}u`)}
      }`
          : ''
      }
      ${v.transform ? `workgroupBarrier();\n      if (kt + ${TK}u < k1) { ${transform(TK, '0u', `i32(kt + ${TK}u + row)`, true)} }` : ''}
${softmax('kt', 'resc')}
      ${
        drop('barrier')
          ? ''
          : `if (workgroupUniformLoad(&resc) != 0u) {
${rescale}
      }`
      }
      if (t == 0u) { resc = 0u; }
    ${defer || beforePv ? '' : pv}
      ${
        lateV
          ? `if (kt + ${TK}u < k1) {
${fetch('rv', 1, `kt + ${TK}u`)}
      }`
          : ''
      }
      ${
        early
          ? ''
          : `if (kt + ${2 * TK}u < k1) {
${fetch('rk', 0, `kt + ${2 * TK}u`)}
      }`
      }
    ${beforePv ? pv : ''}
    }
    ${
      defer
        ? `// the last tile's P·V (its P and V were made visible by the loop's last barrier)
    ${pv}`
        : ''
    }`;
  // the K/V loop in ping-pong: half A = subgroups below HALF (rows below R/2), half B the others
  const half = (G: number) => r(NSG).filter((g) => g < HALF === (G === 0));
  const qkPvIn = (G: number) =>
    perSgIn(half(G), (g) => [qkDecl(g), pvLoad(g), rmDecl, ...zip(qkSteps(g), pvSteps(g)), qkStore(g)].join('\n'));
  const pvIn = (G: number) => perSgIn(half(G), (g) => [pvLoad(g), rmDecl, ...pvSteps(g)].join('\n'));
  const rescaleIf = (G: number, flag: string) =>
    drop('barrier')
      ? ''
      : restart || drop('uload')
        ? 'workgroupBarrier();'
        : drop('uload2')
          ? 'workgroupBarrier();\n      workgroupBarrier();'
          : drop('ucheap')
            ? `if (workgroupUniformLoad(&${flag}) != 0u) { if (t == 0u) { ${flag} = 0u; } }`
            : `if (workgroupUniformLoad(&${flag}) != 0u) {
${rescaleOf(half(G), ` && (sg < ${HALF}u) == ${G === 0}`)}
      }
      if (t == 0u) { ${flag} = 0u; }`;
  // ping-pong walks the tiles in loop order (n_d from the last down, see restartHeadroom, then up from k0): kt is
  // this tile, kn the next, kp the previous. Stepping kt measured 1% faster than computing it from the index m.
  const tileVars = `      let kn = select(select(kt + ${TK}u, k0, m + 1u == n_d), kt - ${TK}u, m + 1u < n_d);`;
  const nextT = (body: string) => `if (m + 1u < n_t) {\n${body}\n      }`;
  const phaseA = `      // this tile's V and the next K, in flight through the first phase (see pingPong)
${fetch('rv', 1, 'kt')}
      ${nextT(fetch('rk', 0, 'kn'))}
      // A multiplies (P·V of the previous tile, Q·Kᵀ of this one) while B makes the previous tile's P
      if (sg < ${HALF}u) {
    ${qkPvIn(0)}
      } else {
        if (m > 0u) {
${softmax('kp', 'resc_b')}
        }
      }`;
  const phaseB = `      // and the other way round
      if (sg >= ${HALF}u) {
    ${qkPvIn(1)}
      } else {
${softmax('kt', 'resc')}
      }`;
  const phaseC = `      // every read of this tile's K and the previous tile's V is done: stage the ones fetched at the top
${stage('rv', VOFF)}
      ${nextT(stage('rk', 0))}
      ${drop('gbar') ? '' : 'workgroupBarrier();'}
      ${v.transform ? `if (m + 1u < n_t) { ${transform(TK, '0u', 'i32(kn + row)', true)} }\n      workgroupBarrier();` : ''}`;
  const pingPongTiles = `    var kt = k_first;
    var kp = k_first;
    for (var m = 0u; m < n_t; m++) {
${tileVars}
${phaseA}
      ${rescaleIf(1, 'resc_b')}
${phaseB}
      ${rescaleIf(0, 'resc')}
${phaseC}
      kp = kt;
      kt = kn;
    }
`;
  const pingPongLoop = `${pingPongTiles}    if (k1 > k0) {
      // the last tile: A's P·V while B makes its P, then B's P·V
      if (sg < ${HALF}u) {
    ${pvIn(0)}
      } else {
${softmax('kp', 'resc_b')}
      }
      ${rescaleIf(1, 'resc_b')}
      if (sg >= ${HALF}u) {
    ${pvIn(1)}
      }
    }`;
  return `// attention (tensor cores${sgmatTuning.emulate ? ', emulated' : ''}): D=${D} rows=${R}${qkPair || pair ? ` (32 a subgroup in${qkPair ? ' QK' : ''}${pair ? ' PV' : ''})` : ''}${pp ? ' ping-pong' : `${defer ? ' pv-deferred' : ''}${lateV ? ' late-v' : ''}${beforePv ? ' fetch-before-pv' : ''}`}${PE ? ` exp2-fma=${PE}` : ''}${fast ? ' fma-softmax' : ''}${restart ? ` restart>${RT}+${HR}` : ''} TK=${TK} rescale>${TH} group=${group}${V4 ? ' ss=vec4' : ''}${interior ? ' interior-unmasked' : ''}${ab ? ` ABLATED(${ab}): wrong results` : ''}
enable subgroups;
${pp ? '// the halves branch on the subgroup index, which is uniform within each subgroup\ndiagnostic(off, subgroup_uniformity);\n' : ''}${mo.prelude(['kvs', 'ps'], ['ss'], V4, 1 + NRQ * (DB + KB / NRQ) + NRB * (NCB + KB) + (rmDecl ? 1 : 0))}
${PACK_WGSL}
${NEG_INF_DECL}
${PE > 0 ? EXP2_FMA_WGSL : ''}
${ATTENTION_BINDINGS_WGSL}
${v.usesMask ? maskBindings(11) : ''}
${v.decls}
${kvRowFn(p.layout, p.pageSize, p.numKvHeads, D)}
const GRP = ${group}u;
const HQ = ${p.numQoHeads}u;
const PS = ${p.pageSize}u;
const SCALE = ${wgslF32(p.scale)};
const LOG2E = 1.4426950408889634;
// K rows then V rows of the current tile (the Q tile at item start)
var<workgroup> kvs: array<vec4<u32>, ${kvLen}>;
// scores of the tile (f32), later the output's way out of the result matrices
var<workgroup> ss: array<${V4 ? 'vec4<f32>' : 'f32'}, ${so(sLen)}>;
// probabilities of the tile (f16)
var<workgroup> ps: array<vec4<u32>, ${pLen}>;
// set when some row's reference max moved this tile, so the output must be rescaled
var<workgroup> resc: u32;
${pp ? "// the same for half B in ping-pong (resc is half A's)\nvar<workgroup> resc_b: u32;\n" : ''}${restart ? '// restart mode: some row climbed past its reference, so the item runs again\nvar<workgroup> restart: u32;\n' : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let cta = wid.x;
  let sg = t / 32u;
  let lane = t % 32u;
  // softmax / output ownership: lanes 2i and 2i+1 of subgroup sg own row sg·16 + i, one half of the keys each
  let lr = sg * 16u + lane / 2u;
  let h = lane % 2u;
  let sb = lr * ${LS}u + h * ${so(HK)}u;
${matrices}
  var rk: array<vec4<u32>, ${NL}>;
  var rv: array<vec4<u32>, ${NL}>;
  var pgs: array<u32, ${NL}>;
  if (t == 0u) { resc = 0u; ${pp ? 'resc_b = 0u; ' : ''}${restart ? 'restart = 0u; ' : ''}${mo.init} }
  ${workItemLoop(p.grid, 'slot')}
    // this lane's softmax row
    let r = r0 + lr;
    let row_ok = r < r1;
    let qi = i32(r / GRP);
    let head = hk * GRP + r % GRP;
    let qpos = kv_len - q_len + qi;
    ${
      interior
        ? `// keys below k_full are visible to every row of the item
    let k_full = ${p.variant.causal ? 'min(k1, u32(max(0, kv_len - q_len + i32(r0 / GRP) + 1)))' : 'k1'};`
        : ''
    }
    ${
      pp
        ? `// the item's tiles in loop order: n_d of them from the last down (restart mode: the diagonal ones, at least
    // one), then the rest from the first
    let n_t = (max(k1, k0) - k0 + ${TK - 1}u) / ${TK}u;
    let n_d = ${restart && sgmatTuning.diagFirst ? `min(n_t, max(1u, n_t - ${interior ? `(max(k_full, k0) - k0) / ${TK}u` : 'n_t'}))` : '0u'};
    let k_first = k0 + ${TK}u * select(0u, n_t - 1u, n_d > 0u);`
        : ''
    }
    ${qAhead ? qPrologueAhead : qPrologue}
    var m_run = ${NEG};
    var l_run = 0.0;
    ${
      restart
        ? `// restart mode: pass 1 runs only when some row's scores climbed more than ${RT + HR} (log2) above its first visible
    // tile's max in pass 0; it takes every row's true max as the reference
    var m_seen = ${NEG};
    for (var run_no = 0u; run_no < 2u; run_no++) {
    m_run = m_seen;
    l_run = 0.0;
    ${qAhead ? `if (run_no > 0u) {\n${fetch('rk', 0, 'k_first')}\n    }` : ''}`
        : ''
    }
${r(NRB)
  .map((i) =>
    r(NCB)
      .map((j) => `    o${i}_${j} = ${mo.zero('result', `o${i}_${j}`)};`)
      .join('\n'),
  )
  .join('\n')}
    workgroupBarrier();
    // prologue: K of the first tile staged, its V and the second tile's K in registers
${qAhead ? '' : fetch('rk', 0, pp ? 'k_first' : 'k0')}
${stage('rk', 0)}
${
  pp
    ? ''
    : `${fetch('rv', 1, 'k0')}
    if (k0 + ${TK}u < k1) {
${fetch('rk', 0, `k0 + ${TK}u`)}
    }`
}
    ${
      defer || pp
        ? `// the first phase's deferred P·V adds zero: P and V of "tile -1" are zeros
    for (var i = t; i < ${TK * LDK}u; i += ${WG}u) { kvs[${VOFF}u + i] = vec4<u32>(0u); }
    for (var i = t; i < ${pLen}u; i += ${WG}u) { ps[i] = vec4<u32>(0u); }`
        : ''
    }
    workgroupBarrier();
    ${v.transform ? `if (k0 < k1) { ${transform(TK, '0u', `i32(${pp ? 'k_first' : 'k0'} + row)`, true)} }\n    workgroupBarrier();` : ''}
${pp ? pingPongLoop : stepLoop}
    ${
      restart
        ? `if (workgroupUniformLoad(&restart) == 0u) { break; }
    if (t == 0u) { restart = 0u; }
    }`
        : ''
    }
    // both lanes of a row hold half its sum; the reference max is the same in both
    let l = l_run + subgroupShuffleXor(l_run, 1u);
    var inv = 0.0;
    var lse = ${NEG_INF};
    if (l > 0.0) { inv = 1.0 / l; lse = m_run + log2(l); }
    let orow = (q_start + r / GRP) * HQ + head;
${rounds.map((rd, i) => outputRound(rd, i === 0)).join('\n')}
  }
}`;
}
