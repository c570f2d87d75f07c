/**
 * The CPU backend: f32 kernels in WebAssembly SIMD (wasm/kernels.ts) over tensors that live in one
 * shared WebAssembly memory, split by rows across a pool of worker threads (thread-pool.ts).
 * Storage is f32, f16 or bf16; arithmetic is f32. Ops without a CPU implementation (see
 * `cpu-ops.ts` `nativeOp`: attention variants with user-written hooks) run their
 * float64 reference and round to the output dtype, and `servedByReference` says which, so
 * conformance tests never compare the oracle with itself.
 */
import { type Attrs, type Backend, type HostProgram, type Tensor, type TensorDesc, assertShape } from '../backend.js';
import { type DType, type HostArray, bytesPerElement, isFloat, numel, toFloat64, toHost } from '../../tensor/dtype.js';
import { getOp, hasOp } from '../../ops/registry.js';
import { CPU_CAPABILITIES } from './cpu-capabilities.js';
import { type OpContext, nativeOp } from './cpu-ops.js';
import { cpuRuntime, type CpuRuntime } from './cpu-runtime.js';
import type { CpuTensor } from './cpu-tensor.js';
import { dtypeCode } from './cpu-tensor.js';
import type { Block } from './heap.js';

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly caps = CPU_CAPABILITIES;
  private counter = 0;
  private readonly rt: CpuRuntime;
  /** This backend's live blocks, released by `destroy`. */
  private readonly blocks = new Set<Block>();

  constructor() {
    this.rt = cpuRuntime();
  }

  /** Threads the kernels are split across (the caller's included). */
  get threads(): number {
    return this.rt.pool.threads;
  }

  supportsOp(op: string): boolean {
    return hasOp(op);
  }

  /** Whether `op` with these attributes runs its float64 reference here rather than a CPU kernel. */
  servedByReference(op: string, attrs: Attrs, inputs: readonly TensorDesc[]): boolean {
    return nativeOp(op, attrs, inputs) === null;
  }

  alloc(desc: TensorDesc, label = `t${this.counter++}`): Tensor {
    const block = this.rt.heap.alloc(numel(desc.shape) * bytesPerElement(desc.dtype));
    this.blocks.add(block);
    const t: CpuTensor = { dtype: desc.dtype, shape: [...desc.shape], backend: 'cpu', label, block };
    return t;
  }

  write(t: Tensor, data: HostArray): void {
    const n = numel(t.shape);
    if (data.length !== n) throw new Error(`write to '${t.label}': ${data.length} elements for a tensor of ${n}`);
    this.host(t).set(data as never);
  }

  writeAt(t: Tensor, offset: number, data: HostArray): void {
    const n = numel(t.shape);
    if (offset < 0 || offset + data.length > n)
      throw new Error(`write to '${t.label}': elements [${offset}, ${offset + data.length}) outside its ${n}`);
    this.host(t).set(data as never, offset);
  }

  async read(t: Tensor): Promise<HostArray> {
    return this.host(t).slice();
  }

  view(t: Tensor, shape: readonly number[]): Tensor {
    const c = this.own(t);
    if (numel(shape) !== numel(t.shape))
      throw new Error(
        `view of '${t.label}': [${shape.join(', ')}] has ${numel(shape)} elements, the tensor ${numel(t.shape)}`,
      );
    const v: CpuTensor = {
      dtype: c.dtype,
      shape: [...shape],
      backend: 'cpu',
      label: `${t.label}.view`,
      block: c.block,
    };
    return v;
  }

  subview(t: Tensor, desc: TensorDesc): Tensor {
    const c = this.own(t);
    const bytes = numel(desc.shape) * bytesPerElement(desc.dtype);
    if (bytes > numel(t.shape) * bytesPerElement(t.dtype))
      throw new Error(
        `subview of '${t.label}': ${desc.dtype}[${desc.shape.join(', ')}] needs ${bytes} bytes, it has fewer`,
      );
    const v: CpuTensor = {
      dtype: desc.dtype,
      shape: [...desc.shape],
      backend: 'cpu',
      label: `${t.label}.sub`,
      block: c.block,
    };
    return v;
  }

  run(opName: string, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]): void {
    const op = getOp(opName);
    const outDescs = op.outputs(attrs, inputs);
    if (outDescs.length !== outputs.length)
      throw new Error(`${opName}: ${outputs.length} outputs given, ${outDescs.length} expected`);
    outDescs.forEach((d, i) => assertShape(opName, `output ${i}`, outputs[i]!, d.shape, d.dtype));
    for (const t of [...inputs, ...outputs]) this.own(t);
    const impl = nativeOp(opName, attrs, inputs);
    if (!impl) {
      const values = op.reference(
        attrs,
        inputs.map((t) => toFloat64(t.dtype, this.host(t))),
        inputs,
        outDescs,
      );
      values.forEach((v, i) => this.host(outputs[i]!).set(toHost(outputs[i]!.dtype as DType, v) as never));
      return;
    }
    const temps: Block[] = [];
    const heap = this.rt.heap;
    const ctx: OpContext = {
      heap,
      pool: this.rt.pool,
      scratch: (n) => {
        const b = heap.alloc(n * 4);
        temps.push(b);
        return b.offset;
      },
      addr: (t) => this.own(t).block!.offset,
      f32: (t) => {
        const at = this.own(t).block!.offset;
        if (t.dtype === 'f32') return at;
        if (!isFloat(t.dtype)) throw new Error(`${opName}: '${t.label}' (${t.dtype}) is not a float tensor`);
        const n = numel(t.shape);
        const s = ctx.scratch(n);
        this.rt.pool.run('convert', [at, dtypeCode(t.dtype), s, 0], n, n);
        return s;
      },
    };
    try {
      impl(ctx, attrs, inputs, outputs);
    } finally {
      for (const b of temps) heap.release(b);
    }
  }

  /**
   * A compiled tensor program, in place on the heap: views are made after every allocation, so
   * no memory growth can detach them while it runs. It runs on the calling thread.
   */
  runHostProgram(program: HostProgram, bindings: readonly Tensor[], dims: readonly number[]): void {
    program(
      bindings.map((t) => this.host(t)),
      dims,
    );
  }

  async flush(): Promise<void> {}

  free(t: Tensor): void {
    const c = t as Partial<CpuTensor>;
    if (c.block) {
      this.rt.heap.release(c.block);
      this.blocks.delete(c.block);
    }
    c.block = undefined;
  }

  destroy(): void {
    for (const b of this.blocks) this.rt.heap.release(b);
    this.blocks.clear();
  }

  private own(t: Tensor): CpuTensor {
    const c = t as CpuTensor;
    if (t.backend !== 'cpu' || !c.block || c.block.freed)
      throw new Error(`tensor '${t.label}' is not a live CPU tensor`);
    return c;
  }

  private host(t: Tensor): HostArray {
    return this.rt.heap.view(t.dtype, this.own(t).block!.offset, numel(t.shape));
  }
}
