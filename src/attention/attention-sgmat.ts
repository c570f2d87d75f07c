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
import { maskBindings } from './attention-wgsl.js';
import { SGMAT_DEFAULTS, type SgmatConfig } from './sgmat-config.js';
import { type SgmatCtx, r, sgmatContext, sgmatLayout } from './sgmat-context.js';
import { fetchTile, qPrologue, qPrologueAhead, stageTile, transformRows } from './sgmat-load.js';
import { pingPongLoop, stepLoop } from './sgmat-loops.js';
import { pvPhase, qkPhase, rmDecl } from './sgmat-mma.js';
import { itemMatrices, outputEpilogue } from './sgmat-output.js';
import { wgslF32 } from './variants.js';
import {
  NEG,
  NEG_INF,
  NEG_INF_DECL,
  kvRowFn,
  attentionBindingsWgsl,
  attentionStorageBindings,
  workItemLoop,
} from './wgsl-kv.js';

/** Rows of a work item: 16 per subgroup of 32 lanes; 64 (4 subgroups) or 128 (8, half the K/V loads per row). */
export const SGMAT_ROW_CHOICES: readonly number[] = [64, 128];

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

export function sgmatSharedBytes(d: number, tk = SGMAT_DEFAULTS.tileKeys, rows = 64): number {
  const g = sgmatLayout(d, tk, rows);
  // the last term: the two halves' rescale flags
  return 16 * g.kvLen + 4 * g.sLen + 16 * g.pLen + 8;
}

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

// the kernel's first line: its shape and every knob that changes its text
function kernelTitle(c: SgmatCtx): string {
  const {
    cfg,
    TK,
    TH,
    D,
    R,
    qkPair,
    pair,
    V4,
    ab,
    defer,
    lateV,
    beforePv,
    pp,
    interior,
    group,
    fast,
    PE,
    restart,
    RT,
    HR,
  } = c;
  return `// attention (tensor cores${cfg.emulate ? ', emulated' : ''}): D=${D} rows=${R}${qkPair || pair ? ` (32 a subgroup in${qkPair ? ' QK' : ''}${pair ? ' PV' : ''})` : ''}${pp ? ' ping-pong' : `${defer ? ' pv-deferred' : ''}${lateV ? ' late-v' : ''}${beforePv ? ' fetch-before-pv' : ''}`}${PE ? ` exp2-fma=${PE}` : ''}${fast ? ' fma-softmax' : ''}${restart ? ` restart>${RT}+${HR}` : ''} TK=${TK} rescale>${TH} group=${group}${V4 ? ' ss=vec4' : ''}${interior ? ' interior-unmasked' : ''}${ab ? ` ABLATED(${ab}): wrong results` : ''}`;
}

// enables, bindings, helper functions, constants and workgroup memory
function moduleDecls(c: SgmatCtx): string {
  const { p, mo, D, DB, KB, NRQ, NRB, NCB, kvLen, sLen, pLen, V4, pp, so, group, v, PE, restart } = c;
  return `enable subgroups;
${pp ? '// the halves branch on the subgroup index, which is uniform within each subgroup\ndiagnostic(off, subgroup_uniformity);\n' : ''}${mo.prelude(['kvs', 'ps'], ['ss'], V4, 1 + NRQ * (DB + KB / NRQ) + NRB * (NCB + KB) + (rmDecl(c) ? 1 : 0))}
${PACK_WGSL}
${NEG_INF_DECL}
${PE > 0 ? EXP2_FMA_WGSL : ''}
${attentionBindingsWgsl(p.compactBindings)}
${v.usesMask ? maskBindings(attentionStorageBindings(p.compactBindings)) : ''}
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
`;
}

// the entry point up to the work-item loop: lane roles, matrices and K/V registers held across items
function mainHead(c: SgmatCtx, matrices: string): string {
  const { p, mo, HK, WG, pp, so, LS, NL, restart } = c;
  return `@compute @workgroup_size(${WG})
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
`;
}

// this lane's row of the item, and the item's tiles in loop order
function itemRows(c: SgmatCtx): string {
  const { p, cfg, TK, pp, interior, restart } = c;
  return `    // this lane's softmax row
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
`;
}

// the Q tile into matrices, the running state (restart mode: its two runs), and the first K/V tiles
function itemPrologue(c: SgmatCtx): string {
  const { mo, TK, WG, NRB, NCB, pLen, LDK, defer, pp, qAhead, VOFF, v, restart, RT, HR } = c;
  return `    ${qAhead ? qPrologueAhead(c) : qPrologue(c)}
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
    ${qAhead ? `if (run_no > 0u) {\n${fetchTile(c, 'rk', 0, 'k_first')}\n    }` : ''}`
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
${qAhead ? '' : fetchTile(c, 'rk', 0, pp ? 'k_first' : 'k0')}
${stageTile(c, 'rk', 0)}
${
  pp
    ? ''
    : `${fetchTile(c, 'rv', 1, 'k0')}
    if (k0 + ${TK}u < k1) {
${fetchTile(c, 'rk', 0, `k0 + ${TK}u`)}
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
    ${v.transform ? `if (k0 < k1) { ${transformRows(c, TK, '0u', `i32(${pp ? 'k_first' : 'k0'} + row)`, true)} }\n    workgroupBarrier();` : ''}
`;
}

// the restart check, then the normalised output
function itemEnd(c: SgmatCtx): string {
  const { restart } = c;
  return `    ${
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
${outputEpilogue(c)}
  }
`;
}

export function sgmatAttentionWgsl(
  p: AttentionKernelParams,
  caps: Pick<Capabilities, 'subgroupMaxSize'>,
  cfg: SgmatConfig = SGMAT_DEFAULTS,
): string {
  const c = sgmatContext(p, caps, cfg);
  // the emulation numbers matrices in the order they are first declared and sizes its prelude by
  // them, so every matrix is declared, in this order, before the text is assembled
  rmDecl(c);
  qkPhase(c);
  pvPhase(c);
  const matrices = itemMatrices(c);
  return `${kernelTitle(c)}
${moduleDecls(c)}${mainHead(c, matrices)}${itemRows(c)}${itemPrologue(c)}${c.pp ? pingPongLoop(c) : stepLoop(c)}
${itemEnd(c)}}`;
}
