/**
 * The `lora_delta` dispatches of a decode step alone, timed at the Llama-3-8B shape: each layer
 * group (Q/K/V and gate/up with the RMSNorm folded in, o and down plain) at batch 1 and 64, rank 16
 * and 64, f16 stacks of 64 slots, rows over one adapter and (batch 64) over 8 and 64 (rows i mod n). Every layer has
 * stacks of its own, as in the model, so the step's adapter blocks come from memory, not from L2.
 * Prints µs per dispatch and the step's LoRA total (32 layers × the four groups): at batch 1 the
 * added latency the projections' epilogues do not hide, against issue 23's 2 ms. Decode batches
 * (1 and 16 rows) run twice: the sliced schedule (`segmentedFromRows: 17`) and the segmented one
 * (`segmentedFromRows: 1`), so one run says which schedule decode rows should take (segmentedAt in
 * src/lora/lora-delta-plan.ts is that choice).
 *
 * Before its times are printed, each case's layer-0 dispatch is checked against the op's float64
 * reference at the first rank (reading the 8B shape's stacks back in float64 for every rank would
 * take gigabytes of host memory); a wrong answer exits 1 before anything is printed as a time.
 *
 * Usage: node dist/bench/lora-delta-time.js [--tiny] [--ranks 16,64]
 *   (--tiny: small shapes and 2 layers, a smoke run for software Vulkan)
 */
import '../src/register-all.js';
import type { Tensor } from '../src/backends/backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { llamaLoraShapes } from '../src/lora/modules.js';
import { groupCall, LAYER_GROUPS } from './lora-plan.js';
import { fillRandom, timeGpu } from './results.js';
import { Check } from './verify.js';
import { compare } from '../src/testing/conformance.js';
import { toFloat64 } from '../src/tensor/dtype.js';
import { loraDeltaOp } from '../src/lora/lora-delta.js';
import { DECODE_ROWS, loraDeltaPlan } from '../src/lora/lora-delta-plan.js';

const tiny = process.argv.includes('--tiny');
const rankArg = process.argv.indexOf('--ranks');
const ranks = rankArg > 0 ? process.argv[rankArg + 1]!.split(',').map(Number) : [16, 64];
const shapes = llamaLoraShapes(
  tiny
    ? { numLayers: 2, hiddenSize: 256, intermediateSize: 512, numHeads: 4, numKvHeads: 2, headDim: 64 }
    : { numLayers: 32, hiddenSize: 4096, intermediateSize: 14336, numHeads: 32, numKvHeads: 8, headDim: 128 },
);
const SLOTS = 64;
const backend = await WebGpuBackend.create();
const check = new Check('lora-delta-time');
console.log(
  `lora_delta alone, ${tiny ? 'tiny' : 'Llama-3-8B'} shape, ${backend.caps.description || backend.caps.vendor}`,
);

const cases = [
  [1, 1],
  [16, 1],
  [64, 1],
  [64, 8],
  [64, 64],
] as const;
for (const rank of ranks)
  for (const [rows, adapters] of cases)
    for (const segmented of rows <= DECODE_ROWS ? [false, true] : [false]) {
      let stepUs = 0;
      const parts: string[] = [];
      for (const group of LAYER_GROUPS) {
        const call = groupCall(shapes, group, rows, SLOTS, rank, 'f16');
        const { inputs } = call;
        const attrs = { ...call.attrs, segmentedFromRows: segmented ? 1 : DECODE_ROWS + 1 };
        const normed = attrs.normEps !== undefined;
        const fixedCount = normed ? 4 : 3;
        const alloc = (i: number, layer: number) => {
          const t = backend.alloc(inputs[i]!, `lora.${group.name}.${layer}.${i}`);
          const d = inputs[i]!;
          if (d.dtype === 'i32') {
            const n = d.shape[0]!;
            // row slots (i = fixed slot index) or each slot's rank
            const slotsOfRows = i === fixedCount - 2;
            backend.write(
              t,
              Int32Array.from({ length: n }, (_, j) => (slotsOfRows ? j % adapters : rank)),
            );
          } else if (i === fixedCount - 1) backend.write(t, new Float32Array(SLOTS).fill(2));
          else fillRandom(backend, t, 17 * layer + i, d.shape.length === 3 ? 0.05 : 1);
          return t;
        };
        // the row inputs are shared; every layer has its own norm weight and stacks
        const shared = new Map<number, Tensor>();
        const layers = Array.from({ length: shapes.numLayers }, (_, layer) =>
          inputs.map((_, i) => {
            const perLayer = i >= fixedCount || (normed && i === 1);
            if (perLayer) return alloc(i, layer);
            if (!shared.has(i)) shared.set(i, alloc(i, 0));
            return shared.get(i)!;
          }),
        );
        const outs = loraDeltaOp.outputs(attrs, inputs).map((d, i) => backend.alloc(d, `lora.${group.name}.d${i}`));
        const us =
          1000 * (await timeGpu(backend, (l) => backend.run('lora_delta', attrs, layers[l]!, outs), shapes.numLayers));
        if (rank === ranks[0]) {
          backend.run('lora_delta', attrs, layers[0]!, outs);
          const ins = await Promise.all(
            layers[0]!.map(async (t, i) => toFloat64(inputs[i]!.dtype, await backend.read(t))),
          );
          const want = loraDeltaOp.reference(attrs, ins, inputs, loraDeltaOp.outputs(attrs, inputs));
          const got = await Promise.all(outs.map(async (t) => toFloat64('f32', await backend.read(t))));
          const wrong = got.map((g, i) => compare(g, want[i]!, loraDeltaOp.tolerance(attrs, inputs))).find((m) => m);
          check.that(
            !wrong,
            `rank ${rank}, ${rows} row(s) over ${adapters} adapter(s)${segmented ? ' (segmented)' : ''}, ${group.name}: the float64 reference's delta`,
            wrong ?? `${got.length} output(s)`,
          );
        }
        const plan = loraDeltaPlan(backend.caps, attrs, inputs);
        stepUs += us * shapes.numLayers;
        parts.push(`${group.name} ${us.toFixed(1)} µs (${plan.map((d) => `${d.schedule}×${d.slices}`).join('+')})`);
        const owned = new Set<Tensor>([...layers.flat(), ...outs]);
        for (const t of owned) backend.free(t);
      }
      console.log(
        `rank ${rank}, ${rows} row(s) over ${adapters} adapter(s)${segmented ? ', segmented at decode rows' : ''}: ${parts.join(', ')}; ` +
          `${(stepUs / 1000).toFixed(3)} ms per step (${shapes.numLayers} layers)`,
      );
    }
check.passed();
backend.destroy();
