/**
 * Recorded streams with plain uniform bindings (`recordedUniforms: 'static'`, a second pipeline of
 * each shader) replay the same decode step as the default dynamic-offset layout: bit-equal logits
 * over a prefill and three recorded decode steps of the built-in model, and every recorded dispatch
 * of the static backend carries no dynamic offset. A wrong binding (a layout the bind group does
 * not match, or an offset left over) fails validation or changes the logits.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { DispatchStream } from '../../src/backends/webgpu/dispatch-stream.js';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const PROMPT = [0, 477, 504, 1155, 556];

async function decodeLogits(backend: Backend): Promise<{ logits: Float32Array[]; offsets: number[][] }> {
  const m = await openLlamaModel(builtinModelPath());
  const runner = await LlamaRunner.load(m, { backend, maxTokens: 16, maxSeqs: 2, numPages: 4, actDtype: 'f32' });
  await m.weights.close();
  try {
    const logits: Float32Array[] = [];
    const pages = [0];
    logits.push(Float32Array.from(await runner.forward({ seqs: [{ tokens: PROMPT, start: 0, pages }] })));
    for (let i = 0; i < 3; i++) {
      const tokens = [(10 + 7 * i) % 500];
      logits.push(Float32Array.from(await runner.forward({ seqs: [{ tokens, start: PROMPT.length + i, pages }] })));
    }
    expect(runner.stats.replays, 'decode steps after the first replay the recorded stream').toBe(2);
    const stream = runner.decodeStream(1) as DispatchStream;
    return { logits, offsets: stream.dispatches.map((d) => [...d.offsets]) };
  } finally {
    runner.destroy();
  }
}

describe.skipIf(!gpu)(`recorded uniforms${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('replay the same logits through plain bindings as through dynamic offsets', async () => {
    const plainBackend = await WebGpuBackend.create({ recordedUniforms: 'static' });
    try {
      const dynamic = await decodeLogits(gpu!);
      const plain = await decodeLogits(plainBackend);
      expect(
        dynamic.offsets.some((o) => o.length > 0),
        'the default layout binds uniforms at dynamic offsets',
      ).toBe(true);
      expect(plain.offsets.every((o) => o.length === 0)).toBe(true);
      plain.logits.forEach((l, i) => expect(Array.from(l), `step ${i}`).toEqual(Array.from(dynamic.logits[i]!)));
    } finally {
      plainBackend.destroy();
    }
  });
});
