/**
 * Tessera's public API.
 *
 * @example
 * ```ts
 * import { openBackend } from 'tessera';
 * const backend = await openBackend();            // WebGPU, or the CPU backend with one notice
 * const x = backend.alloc({ dtype: 'f32', shape: [4] });
 * backend.write(x, new Float32Array([1, 2, 3, 4]));
 * backend.run('elementwise', { expr: 'silu(x0)' }, [x], [x]);
 * console.log(await backend.read(x));
 * ```
 */
export type { Attrs, Backend, Tensor, TensorDesc } from './backend/backend.js';
export { UnsupportedOpError } from './backend/backend.js';
export { openBackend, type OpenBackendOptions } from './backend/open.js';
export { CpuBackend } from './cpu/cpu-backend.js';
export { WebGpuBackend, type WebGpuBackendOptions } from './gpu/webgpu-backend.js';
export { openGpu, describeCaps, type GpuContext } from './gpu/device.js';
export type { Capabilities, SubgroupMatrixConfig } from './gpu/capabilities.js';
export * from './gpu/errors.js';
export { DispatchStream } from './gpu/dispatch-stream.js';
export * from './tensor/dtype.js';
export { OPS, getOp } from './ops/registry.js';
export type { OpSpec, OpCase } from './ops/op-spec.js';
export { runBackendConformance, runCase, type CaseResult } from './testing/conformance.js';
export { parseExpr, evalExpr, type Expr } from './kernels/expr.js';
