/**
 * A CPU backend whose Atom W4A4 ops (`atom_quantize`, `atom_matmul`) run their float64 oracles
 * and every other op its f32 kernel: with the quantized math exact, a model's logits can be held
 * to the float64 fake-quant forward within f32 rounding, which checks the graph apart from the
 * code flips the kernels' f32 quantizer causes.
 */
import type { Attrs, Tensor } from '../../../src/backends/backend.js';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import { cpuRuntime } from '../../../src/backends/cpu/cpu-runtime.js';
import type { CpuTensor } from '../../../src/backends/cpu/cpu-tensor.js';
import { getOp } from '../../../src/ops/registry.js';
import { numel, toFloat64, toHost } from '../../../src/tensor/dtype.js';

const ATOM_OPS = new Set(['atom_quantize', 'atom_matmul']);

export class AtomOracleCpu extends CpuBackend {
  override servedByReference(op: string, attrs: Attrs, inputs: Parameters<CpuBackend['servedByReference']>[2]) {
    return ATOM_OPS.has(op) || super.servedByReference(op, attrs, inputs);
  }

  override run(opName: string, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]): void {
    if (!ATOM_OPS.has(opName)) {
      super.run(opName, attrs, inputs, outputs);
      return;
    }
    const heap = cpuRuntime().heap;
    const view = (t: Tensor) => heap.view(t.dtype, (t as CpuTensor).block!.offset, numel(t.shape));
    const op = getOp(opName);
    const values = op.reference(
      attrs,
      inputs.map((t) => toFloat64(t.dtype, view(t))),
      inputs,
      op.outputs(attrs, inputs),
    );
    values.forEach((v, i) => view(outputs[i]!).set(toHost(outputs[i]!.dtype, v) as never));
  }
}
