/**
 * Which registered kernel runs an op on this device: the first, in registration order, whose
 * `whyUnsupported` has no objection to the capabilities, attributes and input types.
 */
import { type Attrs, type Tensor, type TensorDesc, UnsupportedOpError, assertShape } from '../backend.js';
import { getOp } from '../../ops/registry.js';
import type { Capabilities } from './capabilities.js';
import type { GpuKernel } from './kernel.js';

export class KernelChoice {
  private readonly byOp = new Map<string, GpuKernel[]>();

  constructor(
    private readonly caps: Capabilities,
    kernels: Iterable<GpuKernel>,
  ) {
    for (const k of kernels) {
      const list = this.byOp.get(k.op) ?? [];
      list.push(k);
      this.byOp.set(k.op, list);
    }
  }

  /** The kernel for the call, or every candidate's reason for declining it, joined. */
  pick(op: string, attrs: Attrs, inputs: readonly TensorDesc[]): GpuKernel | string {
    const list = this.byOp.get(op);
    if (!list) return 'no WebGPU kernel for this op';
    const reasons: string[] = [];
    for (const k of list) {
      const why = k.whyUnsupported(this.caps, attrs, inputs);
      if (why === null) return k;
      reasons.push(why);
    }
    return reasons.join('; ');
  }

  /** The kernel that runs `op` here, after checking the outputs' types against the op's inference. */
  checked(op: string, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]): GpuKernel {
    const kernel = this.pick(op, attrs, inputs);
    if (typeof kernel === 'string') throw new UnsupportedOpError('webgpu', op, kernel);
    const outDescs = getOp(op).outputs(attrs, inputs);
    if (outDescs.length !== outputs.length)
      throw new Error(`${op}: ${outputs.length} outputs given, ${outDescs.length} expected`);
    outDescs.forEach((d, i) => assertShape(op, `output ${i}`, outputs[i]!, d.shape, d.dtype));
    return kernel;
  }
}
