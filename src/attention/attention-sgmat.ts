/**
 * The prefill template on tensor cores (f16 subgroup matrices, 16×16×16, f32 accumulate): work
 * items of 128 rows (eight subgroups of 32 lanes, 16 rows each; 64 rows and four subgroups where
 * 128 does not fit). Same schedule, items and partial-state layout as the f32 template; needs f16
 * q and KV. Its knobs are an SgmatConfig (sgmat-config.ts); docs/attention-tuning.md has what each
 * costs on the H100 and why the defaults are what they are.
 *
 * The shipped loop (pingPong) runs the subgroups as two halves a phase apart, FlashAttention-3's
 * ping-pong: per tile, phase 1 has half A multiply (P·V of the previous tile, Q·Kᵀ of this one)
 * while half B turns the previous tile's scores into probabilities, phase 2 the other way round,
 * phase 3 stages the K/V fetched at the top of the tile, where the longest barrier-free stretch
 * follows (a workgroup barrier waits for every global load issued before it).
 *
 * - Subgroups keep their Q rows as left matrices and their output as result matrices in registers
 *   for the whole KV loop; per TK-key tile only K, V (16-byte staged, padded rows), the scores S
 *   (f32, as vec4) and P (f16) pass through workgroup memory. In Q·Kᵀ two subgroups share 32 rows
 *   (qkRows), each taking half the keys, so every K matrix read from workgroup memory feeds two
 *   products.
 * - Every matrix load/store offset in the loop is a compile-time constant (Dawn's robustness pass
 *   slows loads with run-time offsets ~2.5×): the few subgroup-dependent ones sit in a switch on
 *   the subgroup index, one unrolled copy per subgroup.
 * - Softmax runs on all lanes: two lanes per row, TK/2 keys each read as vec4s, the row max
 *   combined by one subgroup shuffle; tiles every row sees whole skip the mask test.
 * - Restart mode (rescaleMode): no rescale in the loop; a row's first visible tile (the diagonal
 *   ones come first) fixes its reference max, and an item where some row climbs too far runs again
 *   with the true maxima. The check mode rescales lazily instead (FlashAttention-4's trick): the
 *   reference moves only when a score exceeds it by more than 2^rescaleLog2, and only then do the
 *   result matrices take a round trip through workgroup memory.
 * - K/V tiles are software-pipelined through registers, one tile ahead; a tile's V fetch reuses the
 *   page numbers its K fetch looked up.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { f16MatrixConfig } from '../backends/webgpu/capabilities.js';
import { PACK_WGSL } from '../kernels/wgsl-dtype.js';
import type { AttentionKernelParams } from './attention-wgsl.js';
import { maskBindings, variantDecls } from './attention-wgsl.js';
import { type MatrixOps, REAL_OPS, emulatedOps } from './sgmat-ops.js';
import { SGMAT_DEFAULTS, type SgmatConfig } from './sgmat-config.js';
import { wgslF32 } from './variants.js';
import { NEG, NEG_INF, NEG_INF_DECL, kvRowFn, storeVec4, ATTENTION_BINDINGS_WGSL, workItemLoop } from './wgsl-kv.js';

/** Rows of a work item: 16 per subgroup of 32 lanes; 64 (4 subgroups) or 128 (8, half the K/V loads per row). */
export const SGMAT_ROW_CHOICES: readonly number[] = [64, 128];
/** Rows of the Q tile staged at once through the K/V buffer. */
const Q_PASS = 64;

export function sgmatWhyUnsupported(
  caps: Capabilities,
  p: Pick<AttentionKernelParams, 'headDim' | 'qDtype' | 'kvDtype' | 'tileRows'>,
  cfg: SgmatConfig = SGMAT_DEFAULTS,
): string | null {
  if (!caps.subgroups) return 'needs subgroups';
  if (!cfg.emulate) {
    const mm = f16MatrixConfig(caps, 'f32');
    if (!caps.f16 || !mm || mm.M !== 16 || mm.N !== 16 || mm.K !== 16) return 'no f16 16x16x16 subgroup matrices';
    if (caps.subgroupMinSize !== 32 || caps.subgroupMaxSize !== 32) return 'needs subgroups of exactly 32 lanes';
  } else if (caps.subgroupMinSize < 2) return 'needs subgroups of at least 2 lanes';
  if (p.qDtype !== 'f16' || p.kvDtype !== 'f16') return 'tensor-core path takes f16 q and KV';
  if (p.headDim % 16 !== 0 || p.headDim > 128)
    return `head dim ${p.headDim} (tensor-core path takes multiples of 16 up to 128)`;
  if (!SGMAT_ROW_CHOICES.includes(p.tileRows))
    return `tile of ${p.tileRows} rows (tensor-core path uses ${SGMAT_ROW_CHOICES.join(' or ')})`;
  if (sgmatSharedBytes(p.headDim, cfg.tileKeys, p.tileRows) > caps.maxComputeWorkgroupStorageSize)
    return 'not enough workgroup storage';
  return null;
}

/** Rows per work item a BatchAttention of this shape gets on the tensor-core prefill path (the tuned choice, else 64), or null. */
export function sgmatRowsFor(
  caps: Capabilities,
  shape: { headDim: number; dtype: string; kvDtype?: string },
  cfg: SgmatConfig = SGMAT_DEFAULTS,
): number | null {
  for (const tileRows of [cfg.rows, 64]) {
    const p = {
      headDim: shape.headDim,
      qDtype: shape.dtype as 'f16',
      kvDtype: (shape.kvDtype ?? shape.dtype) as 'f16',
      tileRows,
    };
    if (sgmatWhyUnsupported(caps, p, cfg) === null) return tileRows;
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

export function sgmatSharedBytes(d: number, tk = SGMAT_DEFAULTS.tileKeys, rows = 64): number {
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

export function sgmatAttentionWgsl(
  p: AttentionKernelParams,
  caps: Pick<Capabilities, 'subgroupMaxSize'>,
  cfg: SgmatConfig = SGMAT_DEFAULTS,
): string {
  const mo: MatrixOps = cfg.emulate ? emulatedOps() : REAL_OPS;
  const TK = cfg.tileKeys;
  if (TK % 16 !== 0 || TK < 32) throw new Error(`sgmat attention: ${TK} keys per tile (multiples of 16 from 32)`);
  const TH = cfg.rescaleLog2;
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
  const qkPair = cfg.qkRows === 32 && KB % 2 === 0 && NSG % 2 === 0;
  const pair = cfg.pvRows === 32 && DB % 2 === 0 && NSG % 2 === 0;
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
  const V4 = cfg.ssVec4;
  const ab = cfg.ablate;
  const drop = (stage: string) => ab.split('+').includes(stage);
  const lateV = cfg.lateV;
  const early = cfg.earlyFetch && !lateV;
  const beforePv = lateV && cfg.fetchBeforePv && !cfg.deferPv;
  const defer = cfg.deferPv;
  // ping-pong halves need whole subgroup pairs each (NSG a multiple of 4), and subgroups no wider than
  // our 32-lane ones so that a half's branch is uniform in each (the softmax's shuffle runs in it)
  const pp = cfg.pingPong && NSG % 4 === 0 && caps.subgroupMaxSize <= 32;
  const qAhead = cfg.qAhead;

  // score-buffer offsets and strides count its elements: floats, or vec4s of 4 floats
  const so = (floats: number) => (V4 ? floats / 4 : floats);
  const LS = so(LDS);
  // tiles every row sees whole skip the mask test; only when the variant masks causally or not at all
  const interior =
    cfg.interiorNoMask && !p.variant.customMask && !(p.variant.windowLeft !== undefined && p.variant.windowLeft >= 0);
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
  const fast = cfg.fastSoftmax && interior && !v.logits && p.scale > 0 && !drop('softmax');
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
  const PE = Math.max(0, Math.min(HK, cfg.polyExp));
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
  const restart = pp && cfg.rescaleMode === 'restart' && !v.logits;
  const RT = cfg.restartLog2;
  const HR = cfg.restartHeadroom;
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
  return `// attention (tensor cores${cfg.emulate ? ', emulated' : ''}): D=${D} rows=${R}${qkPair || pair ? ` (32 a subgroup in${qkPair ? ' QK' : ''}${pair ? ' PV' : ''})` : ''}${pp ? ' ping-pong' : `${defer ? ' pv-deferred' : ''}${lateV ? ' late-v' : ''}${beforePv ? ' fetch-before-pv' : ''}`}${PE ? ` exp2-fma=${PE}` : ''}${fast ? ' fma-softmax' : ''}${restart ? ` restart>${RT}+${HR}` : ''} TK=${TK} rescale>${TH} group=${group}${V4 ? ' ss=vec4' : ''}${interior ? ' interior-unmasked' : ''}${ab ? ` ABLATED(${ab}): wrong results` : ''}
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
    let n_d = ${restart && cfg.diagFirst ? `min(n_t, max(1u, n_t - ${interior ? `(max(k_full, k0) - k0) / ${TK}u` : 'n_t'}))` : '0u'};
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
