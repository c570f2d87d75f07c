/** A CPU tensor: a block of the shared kernel memory, plus the dtype codes the kernels take. */
import type { Tensor } from '../backend.js';
import type { DType } from '../../tensor/dtype.js';
import type { Block } from './heap.js';

export interface CpuTensor extends Tensor {
  /** Shared by a tensor and its views; released once, by whichever is freed first. */
  block: Block | undefined;
}

/** The kernels' storage codes (wasm/kernels.ts): f32 0, f16 1, bf16 2; other dtypes have none. */
export function dtypeCode(dtype: DType): number {
  switch (dtype) {
    case 'f32':
      return 0;
    case 'f16':
      return 1;
    case 'bf16':
      return 2;
    default:
      throw new Error(`CPU kernels: ${dtype} is not a float storage type`);
  }
}
