/**
 * The CPU backend: runs each op's float64 reference and rounds to the output dtype.
 *
 * It is the oracle the GPU kernels are checked against and the fallback when no GPU adapter
 * exists, so it favours being obviously right over being fast.
 */
import { type Attrs, type Backend, type Tensor, type TensorDesc, assertShape } from '../backend.js';
import { type DType, type HostArray, allocHost, numel, toFloat64, toHost } from '../../tensor/dtype.js';
import { getOp, hasOp } from '../../ops/registry.js';
import { CPU_CAPABILITIES } from './cpu-capabilities.js';

interface CpuTensor extends Tensor {
  data: HostArray;
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly caps = CPU_CAPABILITIES;
  private counter = 0;

  supportsOp(op: string): boolean {
    return hasOp(op);
  }

  alloc(desc: TensorDesc, label = `t${this.counter++}`): Tensor {
    const t: CpuTensor = {
      dtype: desc.dtype,
      shape: [...desc.shape],
      backend: 'cpu',
      label,
      data: allocHost(desc.dtype, numel(desc.shape)),
    };
    return t;
  }

  write(t: Tensor, data: HostArray): void {
    const c = this.own(t);
    if (data.length !== c.data.length)
      throw new Error(`write to '${t.label}': ${data.length} elements for a tensor of ${c.data.length}`);
    c.data.set(data as never);
  }

  async read(t: Tensor): Promise<HostArray> {
    return this.own(t).data.slice();
  }

  view(t: Tensor, shape: readonly number[]): Tensor {
    const c = this.own(t);
    if (numel(shape) !== c.data.length)
      throw new Error(
        `view of '${t.label}': [${shape.join(', ')}] has ${numel(shape)} elements, the tensor ${c.data.length}`,
      );
    const v: CpuTensor = { dtype: c.dtype, shape: [...shape], backend: 'cpu', label: `${t.label}.view`, data: c.data };
    return v;
  }

  run(opName: string, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]): void {
    const op = getOp(opName);
    const outDescs = op.outputs(attrs, inputs);
    if (outDescs.length !== outputs.length)
      throw new Error(`${opName}: ${outputs.length} outputs given, ${outDescs.length} expected`);
    outDescs.forEach((d, i) => assertShape(opName, `output ${i}`, outputs[i]!, d.shape, d.dtype));
    const values = op.reference(
      attrs,
      inputs.map((t) => toFloat64(t.dtype, this.own(t).data)),
      inputs,
      outDescs,
    );
    values.forEach((v, i) => this.own(outputs[i]!).data.set(toHost(outputs[i]!.dtype as DType, v) as never));
  }

  async flush(): Promise<void> {}

  free(t: Tensor): void {
    (t as Partial<CpuTensor>).data = undefined;
  }

  destroy(): void {}

  private own(t: Tensor): CpuTensor {
    const c = t as CpuTensor;
    if (t.backend !== 'cpu' || !c.data) throw new Error(`tensor '${t.label}' is not a live CPU tensor`);
    return c;
  }
}
