/**
 * Dispatches of one recorded decode step of the built-in model (WebGPU), per layer. Decode is
 * bound by launches and weight reads at small batch, so the compiler's fusion decides its speed:
 * RMSNorm in the projections' prologue, RoPE in their epilogue, Q/K/V and gate/up each as one
 * matmul, residual adds in the output projections. A layer's dispatches are the difference between
 * the streams of the model and of the same model cut to one layer fewer; the test prints their
 * kernels so a regression shows which dispatch came back.
 *
 * The KV append is no dispatch of its own: the Q/K/V GEMV stores K and V into the pages
 * (`qkv_append`, behind the `kv_attention_qkv` host call). Attention is one dispatch, and two
 * when the step's plan splits a sequence's keys over workgroups (as it does at a few hundred
 * tokens) and a merge pass combines the splits; that merge counts like any other dispatch.
 *
 * Serving LoRA adapters keeps every one of those fusions and adds `lora_delta` dispatches per
 * group of projections of the same rows (Q/K/V, o, gate/up, down): the LoRA term is computed
 * beside the projection and added in its epilogue (src/lora/lora-delta.ts). Which schedule a call
 * takes is `segmentedAt` (src/lora/lora-delta-plan.ts, from the H100 times of both): the sliced
 * one (2–16 rows at rank ≤ 16) is one dispatch a group whose workgroups split K into slices the
 * last one sums (src/lora/lora-delta-sliced.ts), and the slices' workspace is one binding more than
 * Q/K/V's three members leave under 16 storage bindings, so five a layer; the segmented one (one
 * row, higher ranks, more rows) is a shrink and an expand a group (src/lora/lora-delta-segmented.ts),
 * eight a layer, rows of one adapter sharing their loads of A and B. Counted from the kernel's plan
 * below.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { DispatchStream } from '../../src/backends/webgpu/dispatch-stream.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { randomLoraAdapter } from '../../bench/lora-random.js';
import { LORA_MODULES } from '../../src/lora/modules.js';
import { loraShapesOf } from '../../src/models/llama/adapter-graph.js';
import { loraStepPlan } from '../../bench/lora-plan.js';
import { LLAMA3_8B_SHAPES } from '../lora/llama8b-lora-groups.js';
import { segmentedAt } from '../../src/lora/lora-delta-plan.js';

const gpu = await gpuBackend();
/** The goal of the decode loop: a layer in at most this many dispatches. */
const MAX_PER_LAYER = 6;
/** Embedding, last-row gather, final norm + LM head: at most this many outside the layers. */
const MAX_OUTSIDE = 3;
/** Projection groups with a LoRA term: Q/K/V, o, gate/up, down. */
const LORA_GROUPS = 4;
/** Segmented: a shrink and an expand per group; sliced: one per group and a second for Q/K/V (the slices' workspace binding). */
const loraPerLayer = (rows: number, rank: number) =>
  segmentedAt({ count: 1 }, rows, rank) ? 2 * LORA_GROUPS : LORA_GROUPS + 1;
/** The runner test's adapters: rank 8. */
const RUNNER_RANK = 8;
/** With adapters: the layer's fused kernels and the LoRA dispatches of `rows` rows. */
const maxPerLayerLora = (rows: number) => MAX_PER_LAYER + loraPerLayer(rows, RUNNER_RANK);

/**
 * Kernel labels of one recorded decode step of `batch` sequences, the model cut to `layers`: all
 * recorded, and those this step runs (a conditional dispatch, e.g. the attention merge that only
 * plans with split key ranges need, is asked at each replay).
 */
async function decodeLabels(
  backend: Backend,
  batch: number,
  context: number,
  layers?: number,
  lora = false,
): Promise<{ recorded: string[]; run: string[] }> {
  const m = await openLlamaModel(builtinModelPath());
  const config = { ...m.config, numLayers: layers ?? m.config.numLayers };
  const runner = await LlamaRunner.load(
    { config, weights: m.weights },
    {
      backend,
      maxTokens: 16,
      maxSeqs: 4,
      numPages: 4 * Math.ceil((context + 1) / 16),
      ...(lora ? { lora: { slots: 2, rmax: RUNNER_RANK } } : {}),
    },
  );
  await m.weights.close();
  if (lora) {
    const shapes = loraShapesOf(config);
    runner.adapters!.add(randomLoraAdapter('a', shapes, LORA_MODULES, 4, 1));
    runner.adapters!.add(randomLoraAdapter('b', shapes, LORA_MODULES, 8, 2));
  }
  try {
    // the cache holds no real keys: counting dispatches needs the plan's shape, not the values
    const pages = Math.ceil((context + 1) / 16);
    // with adapters, rows cycle through a, none and b
    const adapter = (i: number) => (lora && i % 3 !== 1 ? { adapter: i % 3 === 0 ? 'a' : 'b' } : {});
    const seqs = Array.from({ length: batch }, (_, i) => ({
      tokens: [10 + i],
      start: context,
      pages: Array.from({ length: pages }, (_, p) => i * pages + p),
      ...adapter(i),
    }));
    await runner.forward({ seqs }, { readLogits: false });
    const stream = runner.decodeStream(batch);
    expect(stream, 'a pure decode step is recorded').toBeInstanceOf(DispatchStream);
    const dispatches = (stream as DispatchStream).dispatches;
    return {
      recorded: dispatches.map((d) => d.label),
      run: dispatches.filter((d) => d.when?.() ?? true).map((d) => d.label),
    };
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
  for (const [batch, context, lora] of [
    [1, 0, false],
    [4, 0, false],
    [1, 400, false],
    [4, 400, false],
    [1, 0, true],
    [4, 400, true],
  ] as const) {
    const budget = lora ? maxPerLayerLora(batch) : MAX_PER_LAYER;
    const what = lora ? ', LoRA adapters (a, none, b)' : '';
    it(`batch ${batch}, ${context} tokens of context${what}: at most ${budget} dispatches per layer`, async () => {
      const layers = (await openLlamaModel(builtinModelPath())).config.numLayers;
      const whole = await decodeLabels(gpu!, batch, context, undefined, lora);
      const less = await decodeLabels(gpu!, batch, context, layers - 1, lora);
      const recorded = without(whole.recorded, less.recorded);
      const full = whole.run;
      const cut = less.run;
      const layer = without(full, cut);
      const outside = full.length - layers * layer.length;
      console.log(
        `batch ${batch}, context ${context}${what}: ${full.length} dispatches run for ${layers} layers, ${layer.length} per layer, ${outside} outside; ${recorded.length} per layer recorded\n` +
          `  one layer: ${layer.join(', ')}\n` +
          `  recorded, not run at this context: ${without(recorded, layer).join(', ') || 'none'}\n` +
          `  outside: ${without(full, Array.from({ length: layers }, () => layer).flat()).join(', ')}`,
      );
      expect(full.length - cut.length, 'the cut model has one layer fewer').toBe(layer.length);
      expect(outside, 'dispatches outside the layers').toBeLessThanOrEqual(MAX_OUTSIDE);
      expect(layer.length, 'dispatches per layer').toBeLessThanOrEqual(budget);
    });
  }
});

/** The storage-binding limit Dawn gives on lavapipe and on the H100 the benchmarks run on. */
const BINDINGS = 16;

describe(`LoRA dispatches per layer at the Llama-3-8B shape, from the kernel's plan (${BINDINGS} storage bindings)`, () => {
  for (const rank of [16, 64])
    for (const rows of [1, 4, 64])
      it(`rank ${rank}, ${rows} rows: ${loraPerLayer(rows, rank)} lora_delta dispatches`, () => {
        const step = loraStepPlan(
          { maxStorageBuffersPerShaderStage: BINDINGS },
          LLAMA3_8B_SHAPES,
          new Int32Array(rows),
          new Int32Array(64).fill(rank),
          rank,
          'f16',
        );
        console.log(
          `rank ${rank}, ${rows} rows: ${step.groups.map(({ group, plan }) => `${group.name} ${plan.map((d) => d.schedule).join('+')}`).join(', ')}`,
        );
        expect(step.dispatchesPerLayer).toBe(loraPerLayer(rows, rank));
      });
});
