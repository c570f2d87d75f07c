/**
 * `elementwise`: any expression of the `expr.ts` language over broadcast inputs, compiled into one
 * kernel (the compiler's fusion lands here). Each invocation writes one stored word — two outputs
 * for packed f16/bf16 — and reads inputs through per-axis strides (0 on broadcast axes) kept in
 * uniforms, so one pipeline serves every shape of a given rank and dtype mix.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { broadcastShapes, broadcastStrides } from '../ops/broadcast.js';
import { type ElementwiseAttrs, elementwiseExpr } from '../ops/elementwise.js';
import { type DType, isFloat, numel } from '../tensor/dtype.js';
import { EXPR_WGSL_PRELUDE, exprToWgsl } from '../ops/expr.js';
import { type GpuKernel, shaderKey } from '../backends/webgpu/kernel.js';
import { grid2d } from '../backends/webgpu/grid.js';
import { PACK_WGSL, elemsPerWord, enables, loadF32, storageDecl, storeWord, uniformDecl } from './wgsl-dtype.js';

const WG = 256;

export function elementwiseWgsl(
  expr: string,
  inDtypes: readonly DType[],
  outDtype: DType,
  rank: number,
  caps: Pick<Capabilities, 'f16'>,
): string {
  const e = elementwiseExpr(expr);
  const per = elemsPerWord(outDtype, caps);
  const n = inDtypes.length;
  // uniforms: [total, words, outShape[rank], strides[n][rank]]
  const uniformWords = 2 + rank + n * rank;
  const decls = inDtypes.map((d, i) => storageDecl(i, `x${i}`, d, caps, 'read')).join('\n');
  const offsets = inDtypes.map((_, i) => `var o${i} = 0u;`).join(' ');
  const accum = inDtypes.map((_, i) => `o${i} += c * uw(${2 + rank + i * rank}u + ax);`).join(' ');
  const loads = inDtypes.map((d, i) => `let v${i} = ${loadF32(d, caps, `x${i}`, `o${i}`)};`).join('\n      ');
  const body = exprToWgsl(e, (i) => `v${i}`);
  const lanes = Array.from({ length: per }, (_, j) => `r${j}`);
  return `${enables([...inDtypes, outDtype], caps)}
${decls}
${storageDecl(n, 'y', outDtype, caps, 'read_write')}
${uniformDecl(n + 1, uniformWords)}
${EXPR_WGSL_PRELUDE}
${PACK_WGSL}
fn value(flat: u32) -> f32 {
  ${offsets}
  var rem = flat;
  for (var a = ${rank}u; a > 0u; a--) {
    let c = rem % uw(1u + a);
    rem = rem / uw(1u + a);
    let ax = a - 1u;
    ${accum}
  }
  ${loads}
  return ${body};
}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let word = gid.x + gid.y * nwg.x * ${WG}u;
  if (word >= uw(1u)) { return; }
  let total = uw(0u);
  ${lanes.map((r, j) => `var ${r} = 0.0; if (word * ${per}u + ${j}u < total) { ${r} = value(word * ${per}u + ${j}u); }`).join('\n  ')}
  ${storeWord(outDtype, caps, 'y', 'word', lanes)}
}`;
}

// Dispatch geometry belongs to the backend; the kernels of this library import it through here.
export { grid2d };

export const elementwiseKernel: GpuKernel = {
  op: 'elementwise',
  whyUnsupported(caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    const outDtype = (attrs as ElementwiseAttrs).outDtype ?? inputs[0]?.dtype;
    if (!outDtype || !isFloat(outDtype)) return 'output must be a float type';
    if (inputs.length + 2 > caps.maxStorageBuffersPerShaderStage)
      return `more inputs than storage bindings (${caps.maxStorageBuffersPerShaderStage})`;
    return null;
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as ElementwiseAttrs;
    const y = outputs[0]!;
    const outShape = broadcastShapes(
      'elementwise',
      inputs.map((t) => t.shape),
    );
    const rank = Math.max(1, outShape.length);
    const shape = outShape.length ? outShape : [1];
    const total = numel(shape);
    const per = elemsPerWord(y.dtype, ctx.caps);
    const words = Math.ceil(total / per);
    const u = new Uint32Array(2 + rank + inputs.length * rank);
    u[0] = total;
    u[1] = words;
    shape.forEach((d, i) => (u[2 + i] = d));
    inputs.forEach((t, k) => broadcastStrides(t.shape, shape).forEach((s, i) => (u[2 + rank + k * rank + i] = s)));
    const dtypes = inputs.map((t) => t.dtype);
    const label = `elementwise.${y.dtype}.r${rank}`;
    const access = [...inputs.map(() => 'read' as const), 'rw' as const, 'uniform' as const];
    ctx.dispatch(
      {
        label,
        key: shaderKey(label, attrs.expr, dtypes),
        wgsl: () => elementwiseWgsl(attrs.expr, dtypes, y.dtype, rank, ctx.caps),
        access,
      },
      [...inputs, y],
      u,
      grid2d(Math.ceil(words / WG), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
