/**
 * Dispatches of one recorded decode step of the built-in model (WebGPU), per layer. Decode is
 * bound by launches and weight reads at small batch, so the compiler's fusion decides its speed:
 * RMSNorm in the projections' prologue, RoPE in their epilogue, Q/K/V and gate/up each as one
 * matmul, residual adds in the output projections. A layer's dispatches are the difference between
 * the streams of the model and of the same model cut to one layer fewer; the test prints their
 * kernels so a regression shows which dispatch came back.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { DispatchStream } from '../../src/backends/webgpu/dispatch-stream.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
/** The goal of the decode loop: a layer in at most this many dispatches. */
const MAX_PER_LAYER = 6;
/** Embedding, last-row gather, final norm + LM head: at most this many outside the layers. */
const MAX_OUTSIDE = 3;

/** Kernel labels of one recorded decode step of `batch` sequences, the model cut to `layers`. */
async function decodeLabels(backend: Backend, batch: number, layers?: number): Promise<string[]> {
  const m = await openLlamaModel(builtinModelPath());
  const config = { ...m.config, numLayers: layers ?? m.config.numLayers };
  const runner = await LlamaRunner.load(
    { config, weights: m.weights },
    { backend, maxTokens: 16, maxSeqs: 4, numPages: 16 },
  );
  await m.weights.close();
  try {
    const seqs = Array.from({ length: batch }, (_, i) => ({ tokens: [10 + i], start: 0, pages: [i] }));
    await runner.forward({ seqs }, { readLogits: false });
    const stream = runner.decodeStream(batch);
    expect(stream, 'a pure decode step is recorded').toBeInstanceOf(DispatchStream);
    return (stream as DispatchStream).dispatches.map((d) => d.label);
  } finally {
    runner.destroy();
  }
}

/** `all` minus `some`, as multisets. */
function without(all: readonly string[], some: readonly string[]): string[] {
  const left = [...all];
  for (const s of some) {
    const i = left.indexOf(s);
    if (i >= 0) left.splice(i, 1);
  }
  return left;
}

describe.skipIf(!gpu)(`decode dispatches per layer${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  for (const batch of [1, 4]) {
    it(`batch ${batch}: at most ${MAX_PER_LAYER} dispatches per layer`, async () => {
      const full = await decodeLabels(gpu!, batch);
      const layers = (await openLlamaModel(builtinModelPath())).config.numLayers;
      const cut = await decodeLabels(gpu!, batch, layers - 1);
      const layer = without(full, cut);
      const outside = full.length - layers * layer.length;
      console.log(
        `batch ${batch}: ${full.length} dispatches for ${layers} layers, ${layer.length} per layer, ${outside} outside\n` +
          `  one layer: ${layer.join(', ')}\n  outside: ${without(full, Array.from({ length: layers }, () => layer).flat()).join(', ')}`,
      );
      expect(full.length - cut.length, 'the cut model has one layer fewer').toBe(layer.length);
      expect(outside, 'dispatches outside the layers').toBeLessThanOrEqual(MAX_OUTSIDE);
      expect(layer.length).toBeLessThanOrEqual(MAX_PER_LAYER);
    });
  }
});
