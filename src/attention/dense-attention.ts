/**
 * The dense `attention` op's kernel (contiguous Q/K/V, f32 arithmetic), the one the compiler/IR path
 * lowers to; the paged engine's kernels are in `kernels.ts`. One workgroup of 64 threads per (block
 * of B query rows, query head). Q for the block sits in workgroup memory; K/V tiles of B keys stream through
 * it; the online softmax keeps a running max and sum per row and rescales the f32 accumulators
 * (each thread owns fixed (row, dim) outputs) when the max grows. Causal blocks stop at the last
 * key their last query may see. B shrinks with D so the Q, K, V and output tiles fit 16 KiB.
 * Small f32 heads (D ≤ 32) go to the one-row-per-thread kernel of `dense-attention-rows.ts`.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { type AttentionAttrs, attentionDims } from '../ops/attention.js';
import type { DType } from '../tensor/dtype.js';
import { type GpuKernel, shaderKey } from '../backends/webgpu/kernel.js';
import { rowOutDecl, rowStoreLoop, rowsStraddleWords } from '../kernels/row-reduce.js';
import { denseRowsApplies, denseRowsGrid, denseRowsPerThread, denseRowsWgsl } from './dense-attention-rows.js';
import { PACK_WGSL, enables, loadF32, storageDecl, uniformDecl } from '../kernels/wgsl-dtype.js';

const WG = 64;
export const DENSE_ATTENTION_MAX_HEAD_DIM = 512;

/** Rows (and keys) per tile: the largest power of two ≤ 16 with the four B×D f32 tiles in 16 KiB. */
export function denseAttentionBlock(D: number): number {
  let b = 16;
  while (b > 1 && b * D > 1024) b /= 2;
  return b;
}

type Caps = Pick<Capabilities, 'f16'>;

/** Bindings, and the B×D f32 tiles (Q, K, V, output) plus the B×B scores and per-row softmax state in workgroup memory. */
function moduleDecls(qd: DType, kd: DType, vd: DType, D: number, caps: Caps, straddle: boolean): string {
  const B = denseAttentionBlock(D);
  return `${enables([qd, kd, vd], caps)}
${storageDecl(0, 'q', qd, caps, 'read')}
${storageDecl(1, 'k', kd, caps, 'read')}
${storageDecl(2, 'v', vd, caps, 'read')}
${rowOutDecl(3, 'o', qd, caps, straddle)}
${uniformDecl(4, 8)}
${PACK_WGSL}
var<workgroup> os: array<f32, ${B * D}>;
var<workgroup> qs: array<f32, ${B * D}>;
var<workgroup> ks: array<f32, ${B * D}>;
var<workgroup> vs: array<f32, ${B * D}>;
var<workgroup> sc: array<f32, ${B * B}>;
var<workgroup> rm: array<f32, ${B}>;
var<workgroup> rl: array<f32, ${B}>;
var<workgroup> ra: array<f32, ${B}>;
// -inf as a runtime value (WGSL rejects infinities in constant expressions)
var<private> ninf_bits: u32 = 0xff800000u;
fn ninf() -> f32 { return bitcast<f32>(ninf_bits); }`;
}

/** The block's Q rows into `qs` (zeros past T), the output tile and softmax state cleared. */
function loadQBlock(qd: DType, caps: Caps): string {
  return `for (var e = lid; e < B * D; e += ${WG}u) {
    let r = e / D;
    var val = 0.0;
    if (q0 + r < T) { val = ${loadF32(qd, caps, 'q', '((q0 + r) * Hq + h) * D + e % D')}; }
    qs[e] = val;
    os[e] = 0.0;
  }
  if (lid < B) { rm[lid] = ninf(); rl[lid] = 0.0; }`;
}

/** Keys k0…k0+B−1 of K and V into `ks`/`vs` (zeros past S). */
function loadKvTile(kd: DType, vd: DType, caps: Caps): string {
  return `for (var e = lid; e < B * D; e += ${WG}u) {
      let j = e / D;
      var kv = 0.0;
      var vv = 0.0;
      if (k0 + j < S) {
        let off = ((k0 + j) * Hk + kh) * D + e % D;
        kv = ${loadF32(kd, caps, 'k', 'off')};
        vv = ${loadF32(vd, caps, 'v', 'off')};
      }
      ks[e] = kv;
      vs[e] = vv;
    }`;
}

/** Scaled Q·K scores of the tile into `sc`, −inf where masked or out of range. */
function tileScores(): string {
  return `for (var e = lid; e < B * B; e += ${WG}u) {
      let r = e / B;
      let j = e % B;
      let qi = q0 + r;
      let kj = k0 + j;
      var s = ninf();
      // causal: kj ≤ qi + S − T, written without unsigned underflow
      if (qi < T && kj < S && (!causal || kj + T <= qi + S)) {
        var dot = 0.0;
        for (var d = 0u; d < D; d++) { dot += qs[r * D + d] * ks[j * D + d]; }
        s = dot * scale;
      }
      sc[e] = s;
    }`;
}

/** One thread per row: new running max, probabilities in place of the scores, rescale factor in `ra`. */
function onlineSoftmax(): string {
  return `if (lid < B) {
      let old = rm[lid];
      var mt = old;
      for (var j = 0u; j < B; j++) { mt = max(mt, sc[lid * B + j]); }
      var sum = 0.0;
      for (var j = 0u; j < B; j++) {
        let s = sc[lid * B + j];
        // masked scores stay exactly 0 (no reliance on exp(−inf))
        let p = select(0.0, exp(s - mt), s > ninf());
        sc[lid * B + j] = p;
        sum += p;
      }
      let alpha = select(0.0, exp(old - mt), old > ninf());
      rm[lid] = mt;
      rl[lid] = rl[lid] * alpha + sum;
      ra[lid] = alpha;
    }`;
}

function accumulatePv(): string {
  return `// each thread owns the outputs e ≡ lid (mod ${WG}): no barrier needed around os
    for (var e = lid; e < B * D; e += ${WG}u) {
      let r = e / D;
      let d = e % D;
      var t = os[e] * ra[r];
      for (var j = 0u; j < B; j++) { t += sc[r * B + j] * vs[j * D + d]; }
      os[e] = t;
    }`;
}

/** Rows divided by their sums (staged in `qs`, free by now), then stored in the output dtype. */
function normaliseAndStore(qd: DType, caps: Caps, straddle: boolean): string {
  return `for (var e = lid; e < B * D; e += ${WG}u) {
    let l = rl[e / D];
    qs[e] = select(0.0, os[e] / l, l > 0.0);
  }
  workgroupBarrier();
  for (var r = 0u; r < B; r++) {
    if (q0 + r < T) {
      let base = ((q0 + r) * Hq + h) * D;
      ${rowStoreLoop(qd, caps, straddle, 'o', 'base', 'D', (c) => `qs[r * D + ${c}]`, WG)}
    }
  }`;
}

export function denseAttentionWgsl(qd: DType, kd: DType, vd: DType, D: number, caps: Caps): string {
  const straddle = rowsStraddleWords(qd, caps, D);
  return `${moduleDecls(qd, kd, vd, D, caps, straddle)}

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let T = uw(0u);
  let S = uw(1u);
  let Hq = uw(2u);
  let Hk = uw(3u);
  let causal = uw(4u) != 0u;
  let scale = uf(5u);
  // D and B come from uniforms although fixed per pipeline: constant trip counts get fully
  // unrolled by some shader compilers (lavapipe took minutes), for no gain in a simple kernel
  let D = uw(6u);
  let B = uw(7u);
  let q0 = wid.x * B;
  let h = wid.y;
  let kh = h / (Hq / Hk);
  ${loadQBlock(qd, caps)}
  // the block's last query (q0 + B − 1, or T − 1) sees keys < its index + S − T + 1
  var kend = S;
  if (causal) {
    let lim = min(q0 + B, T) + S;
    kend = min(S, select(0u, lim - T, lim > T));
  }
  for (var k0 = 0u; k0 < kend; k0 += B) {
    workgroupBarrier();
    ${loadKvTile(kd, vd, caps)}
    workgroupBarrier();
    ${tileScores()}
    workgroupBarrier();
    ${onlineSoftmax()}
    workgroupBarrier();
    ${accumulatePv()}
  }
  workgroupBarrier();
  ${normaliseAndStore(qd, caps, straddle)}
}`;
}

export const denseAttentionKernel: GpuKernel = {
  op: 'attention',
  whyUnsupported(_caps: Capabilities, _attrs: Attrs, inputs: readonly TensorDesc[]) {
    try {
      const { D } = attentionDims(inputs);
      return D <= DENSE_ATTENTION_MAX_HEAD_DIM ? null : `head dim ${D} over ${DENSE_ATTENTION_MAX_HEAD_DIM}`;
    } catch (e) {
      return (e as Error).message;
    }
  },
  encode(ctx, rawAttrs, [q, k, v], [o]) {
    const attrs = rawAttrs as AttentionAttrs;
    const { T, S, Hq, Hk, D } = attentionDims([q!, k!, v!]);
    const u = new Uint32Array([T, S, Hq, Hk, attrs.causal ? 1 : 0, 0, D, denseAttentionBlock(D)]);
    new Float32Array(u.buffer, 20, 1)[0] = attrs.scale ?? 1 / Math.sqrt(D);
    if (denseRowsApplies(D, [q!, k!, v!, o!])) {
      const R = attrs.rowsPerThread ?? denseRowsPerThread(D, T, Hq);
      const rowsLabel = `attention.rows.f32.d${D}.r${R}`;
      ctx.dispatch(
        {
          label: rowsLabel,
          key: shaderKey(rowsLabel),
          wgsl: () => denseRowsWgsl(D, R),
          access: ['read', 'read', 'read', 'rw', 'uniform'],
        },
        [q!, k!, v!, o!],
        u,
        denseRowsGrid(T, Hq, R),
      );
      return;
    }
    const label = `attention.${q!.dtype}.${k!.dtype}.d${D}`;
    ctx.dispatch(
      {
        label,
        key: shaderKey(label, v!.dtype),
        wgsl: () => denseAttentionWgsl(q!.dtype, k!.dtype, v!.dtype, D, ctx.caps),
        access: ['read', 'read', 'read', 'rw', 'uniform'],
      },
      [q!, k!, v!, o!],
      u,
      [Math.ceil(T / denseAttentionBlock(D)), Hq],
    );
  },
};
