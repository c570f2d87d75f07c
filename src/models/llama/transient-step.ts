/**
 * Steps that no recorded stream serves (long-context steps, steps asked to run unrecorded, and
 * every step on backends that record nothing): the compiled function runs through a VM of its
 * own, whose storage follows the step's shape, with inputs and scratch that live for this step only.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import type { Executable } from '../../compiler/executable.js';
import { VirtualMachine } from '../../compiler/vm.js';
import { HeldScratch, type PagedKvCache, type StepRows } from './kv-cache.js';
import type { StepHost } from './step-host.js';
import { allocLse, allocStepTensors, type StepTensors, stepInputTensors, writeStepInputs } from './step-tensors.js';

export class TransientStepper {
  private readonly vm: VirtualMachine;

  constructor(
    private readonly backend: Backend,
    exe: Executable,
    private readonly host: StepHost,
    private readonly kv: PagedKvCache,
    private readonly numHeads: number,
    private readonly withAdapter: boolean,
    private readonly args: (inputs: StepTensors) => Tensor[],
  ) {
    this.vm = new VirtualMachine(exe, backend, { host: host.functions });
  }

  /** A step in `n` rows (real ones first, then pad rows) over `b` sequences; returns its logits, which the caller owns. */
  async run(
    n: number,
    b: number,
    rows: StepRows,
    tokens: Int32Array,
    positions: Int32Array,
    last: Int32Array,
    adapterRows: Int32Array | undefined,
  ): Promise<Tensor> {
    const inputs = allocStepTensors(this.backend, n, b, this.withAdapter);
    const lse = allocLse(this.backend, n, this.numHeads);
    const scratch = new HeldScratch(this.backend, 'step');
    try {
      return await this.host.withinAsync(lse, scratch, async () => {
        writeStepInputs(this.backend, inputs, tokens, positions, last, adapterRows);
        this.kv.plan(rows);
        return (await this.vm.run('forward', this.args(inputs))) as Tensor;
      });
    } finally {
      scratch.free();
      // the backend submits pending work before it frees, and submitted work may outlive the free
      for (const t of stepInputTensors(inputs, lse)) this.backend.free(t);
    }
  }

  release(): void {
    this.vm.release();
  }
}
