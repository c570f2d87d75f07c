/**
 * The host functions the compiled Llama graph calls for attention, and the scratch of the step
 * they run in. The graph never sees the KV pages: `kv_attention` appends a layer's K/V and attends
 * under the step's plan; the compiler folds the layer's Q/K/V projection into `KV_ATTENTION_QKV`
 * (fold-kv-projection.ts) so K and V can be stored into the pages by the projection itself.
 */
import type { Tensor } from '../../backends/backend.js';
import { KV_ATTENTION_QKV } from '../../compiler/passes/fold-kv-projection.js';
import type { HostFunction } from '../../compiler/vm.js';
import type { LinearGroupAttrs } from '../../ops/linear-group.js';
import type { HeldScratch, PagedKvCache } from './kv-cache.js';
import { StepError } from './step-rows.js';

export class StepHost {
  /** Attention log-sum-exp scratch of the step being built (written by the kernel, unused after). */
  private lse: Tensor | null = null;
  /** Projection scratch of the step being built (Q, and K/V where they are not stored into the pages directly). */
  private scratch: HeldScratch | null = null;
  readonly functions: Record<string, HostFunction>;

  constructor(private readonly kv: PagedKvCache) {
    const kvAttention: HostFunction = (_vm, args, out, attrs) => {
      const [q, k, v] = args as Tensor[];
      if (!this.lse || this.lse.shape[0] !== q!.shape[0]) throw new StepError('attention ran outside a step');
      return this.kv.attend(attrs.layer as number, q!, k!, v!, out, this.lse);
    };
    const kvAttentionQkv: HostFunction = (_vm, args, out, attrs) => {
      const x = args[0] as Tensor;
      if (!this.lse || !this.scratch || this.lse.shape[0] !== x.shape[0])
        throw new StepError('attention ran outside a step');
      const group = attrs.group as LinearGroupAttrs;
      return this.kv.projectAndAttend(attrs.layer as number, group, args as Tensor[], this.scratch, out, this.lse);
    };
    this.functions = { kv_attention: kvAttention, [KV_ATTENTION_QKV]: kvAttentionQkv };
  }

  /** Runs `fn` (which runs the compiled function) as a step with this scratch. */
  within<T>(lse: Tensor, scratch: HeldScratch, fn: () => T): T {
    this.lse = lse;
    this.scratch = scratch;
    try {
      return fn();
    } finally {
      this.lse = null;
      this.scratch = null;
    }
  }

  /** `within` for a run that completes asynchronously: the scratch stays set until it settles. */
  async withinAsync<T>(lse: Tensor, scratch: HeldScratch, fn: () => Promise<T>): Promise<T> {
    this.lse = lse;
    this.scratch = scratch;
    try {
      return await fn();
    } finally {
      this.lse = null;
      this.scratch = null;
    }
  }
}
