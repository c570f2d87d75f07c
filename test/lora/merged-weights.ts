/**
 * A checkpoint with a LoRA adapter merged into its projections, W' = W + scale·B·A, each sum in
 * float64 and rounded once to f32: the oracle a runner applying the adapter on the fly must match.
 */
import type { TensorInfo, TensorSource } from '../../src/io/tensor-source.js';
import type { LoraAdapter } from '../../src/lora/peft-adapter.js';
import { peftTensorName } from '../../src/lora/modules.js';
import { toFloat64 } from '../../src/tensor/dtype.js';

export function mergedSource(base: TensorSource, adapter: LoraAdapter): TensorSource {
  const merged = new Map<string, () => Promise<Float32Array>>();
  adapter.layers.forEach((mods, layer) => {
    for (const [module, pair] of mods) {
      // the base weight's name is PEFT's with the wrapper prefix and lora part removed
      const name = peftTensorName(layer, module, 'A').replace('base_model.model.', '').replace('.lora_A', '');
      merged.set(name, async () => {
        const info = base.tensors.get(name)!;
        const w = toFloat64(info.dtype, await base.read(name));
        const [out, inn] = info.shape as [number, number];
        const r = adapter.config.rank;
        const s = adapter.config.scale;
        const outW = new Float32Array(out * inn);
        for (let j = 0; j < out; j++)
          for (let k = 0; k < inn; k++) {
            let acc = 0;
            for (let q = 0; q < r; q++) acc += pair.b[j * r + q]! * pair.a[q * inn + k]!;
            outW[j * inn + k] = w[j * inn + k]! + s * acc;
          }
        return outW;
      });
    }
  });
  const tensors = new Map<string, TensorInfo>();
  for (const [name, info] of base.tensors)
    tensors.set(
      name,
      merged.has(name) ? { ...info, dtype: 'f32', byteLength: info.shape.reduce((a, b) => a * b, 4) } : info,
    );
  return {
    tensors,
    read: (name) => merged.get(name)?.() ?? base.read(name),
    readInto: () => Promise.reject(new Error('merged source: read only')),
    close: () => base.close(),
  };
}
