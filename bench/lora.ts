/**
 * Many LoRA adapters over one base model in one batch (Punica, issue 23), on a Llama-3-8B-shape
 * random base (bf16 weights, f16 activations, made in memory: bench/lora-random.ts) with random
 * adapters on all seven projections at rank 16 and at rank 64:
 *
 * - decode throughput for a batch of 64 requests spread over 1, 8 and 64 distinct adapters, against
 *   the base model alone (the ceiling; target for 64 adapters ≥ 0.8× it) and against the
 *   one-adapter-at-a-time loop (the same requests grouped by adapter, one batch per group and
 *   step; target ≥ 10× it);
 * - per-token latency at batch 1 with an adapter, against the base model alone (target: at most
 *   2 ms added).
 *
 * Throughput is host-loop decode (`forward` without a logits read, replaying the recorded step)
 * timed from the first submit to the device going idle; every case feeds the same tokens.
 *
 * The answer is checked before anything is written: a row without an adapter on the LoRA runner
 * gives the base runner's logits; an adapter moves them far beyond that tolerance; and rows of the
 * 64-adapter batch give the logits the same requests get run alone (batch 1, one adapter), which
 * is what the one-adapter-at-a-time loop computes; and, at the first rank, a batch of three
 * adapters and a base row gives the unfused path's logits (`lora_bgmv` after every projection, a
 * runner of its own). That the adapter math itself equals the merged float64 weights is the job of
 * test/lora/llama-lora-runner.test.ts on tiny models.
 *
 * The adapter stacks are f16 where the device has f16 (as the runner keeps them). Every step reads
 * A and B only of the adapters its rows name, each up to its own rank; the notes give, from the
 * kernel's plan on the device that ran (bench/lora-plan.ts), the LoRA dispatches per layer (four at
 * the 8B shape at rank 16 and 64, one per projection group) and the A/B bytes per step. Those
 * bytes bound the 64-adapter rows: at the 8B shape 64 distinct rank-64 adapters are 21.5 GB per
 * step against 16.1 GB of base weights (at best ~0.43× the base's rate if both stream at the same
 * bandwidth), 64 rank-16 ones 5.4 GB (~0.75×): the 0.8× target is out of reach by bytes alone at
 * these ranks with one adapter per request. Rows of one adapter do not share loads (each row's
 * workgroups read its adapter's blocks, from the cache where they repeat), which the notes' loaded
 * bytes show.
 *
 * Usage: node dist/bench/lora.js [--tiny] [--ranks 16,64]
 *   (--tiny: a 2-layer model for software Vulkan, a smoke run that writes `lora-tiny-*.json`;
 *   on the GPU machine one rank per call keeps each within a few minutes: --ranks 16, then --ranks 64)
 */
import '../src/register-all.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { benchLora } from './lora-bench.js';
import { cardName, writeResults } from './results.js';
import { Check } from './verify.js';

const tiny = process.argv.includes('--tiny');
const rankArg = process.argv.indexOf('--ranks');
const ranks = rankArg > 0 ? process.argv[rankArg + 1]!.split(',').map(Number) : [16, 64];
const bench = tiny ? 'lora-tiny' : 'lora-llama3-8b';
const backend = await WebGpuBackend.create();
const check = new Check(bench);
const { rows, notes } = await benchLora(backend, { tiny, ranks }, check);
writeResults(bench, cardName(backend), rows, notes.join(' '), check.passed());
