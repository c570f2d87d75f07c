/**
 * What the overlap probe (bench/nanoflow-overlap.ts) runs on: one layer's shape, its inputs on the
 * device, and per batch size the page table, outputs and dispatches of the partitioned kernel
 * (src/attention/partitioned-kernel.ts).
 *
 * The large inputs (activations, the four weight matrices, queries, the KV pool: about 2 GB at the
 * Llama-3-8B shape) are made on the GPU by a seeded hash (bench/hash-fill.ts) once for every batch
 * size; the oracle recomputes on the host only the elements it reads. Page tables and context
 * lengths come from a seeded host RNG per batch size (small).
 */
import {
  attentionItems,
  gemmItems,
  type PartitionedShape,
  partitionedKernelWgsl,
  partitionedUniforms,
} from '../src/attention/partitioned-kernel.js';
import { packPageTable } from '../src/attention/partitioned-reference.js';
import { Rng } from '../src/util/rng.js';
import { HashFill, hashU32 } from './hash-fill.js';

export interface LayerShape {
  /** Layers of the model the layer stands for: the search's costs are per step, all layers. */
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  pageSize: number;
  /** Context lengths are log-uniform in [minCtx, maxCtx]. */
  minCtx: number;
  maxCtx: number;
  /** Bytes of the KV pool; requests' pages are drawn from it at random (reads stay DRAM-bound). */
  poolBytes: number;
  /** Bytes of the large upload. */
  uploadBytes: number;
}

export const LLAMA3_8B_LAYER: LayerShape = {
  layers: 32,
  hidden: 4096,
  heads: 32,
  kvHeads: 8,
  headDim: 128,
  ffn: 14336,
  pageSize: 16,
  minCtx: 128,
  maxCtx: 4096,
  poolBytes: 1 << 30,
  uploadBytes: 32 << 20,
};

export const TINY_LAYER: LayerShape = {
  layers: 2,
  hidden: 64,
  heads: 4,
  kvHeads: 2,
  headDim: 32,
  ffn: 96,
  pageSize: 8,
  minCtx: 4,
  maxCtx: 40,
  poolBytes: 1 << 20,
  uploadBytes: 1 << 16,
};

export interface Gemm {
  name: string;
  K: number;
  N: number;
}

export function layerGemms(s: LayerShape): Gemm[] {
  const qkv = (s.heads + 2 * s.kvHeads) * s.headDim;
  return [
    { name: 'qkv', K: s.hidden, N: qkv },
    { name: 'o', K: s.heads * s.headDim, N: s.hidden },
    { name: 'gate-up', K: s.hidden, N: 2 * s.ffn },
    { name: 'down', K: s.ffn, N: s.hidden },
  ];
}

/** The index of the gate-up GEMM in `layerGemms`: the one the fused dispatch pairs with attention. */
export const GATE_UP = 2;

/** One dispatch: a bind group and its grid. */
export interface Dispatch {
  bind: GPUBindGroup;
  groups: number;
}

/** Seeds of the hashed input streams, one per buffer, all from the run's seed. */
export function inputSeeds(seed: number): { x: number; q: number; kv: number; w: number[] } {
  const s = (k: number) => hashU32(seed + Math.imul(k, 0x9e3779b9));
  return { x: s(1), q: s(2), kv: s(3), w: [s(4), s(5), s(6), s(7)] };
}

/**
 * A grid of nA + nB workgroups that fits one dimension: both sides loop over their work items
 * (persistent), so a grid cut to the limit keeps the shares and still covers all the work.
 */
export function capGrid(nA: number, nB: number, max: number): { nA: number; nB: number } {
  if (nA + nB <= max) return { nA, nB };
  if (nB === 0) return { nA: max, nB: 0 };
  if (nA === 0) return { nA: 0, nB: max };
  const a = Math.min(max - 1, Math.max(1, Math.round((nA * max) / (nA + nB))));
  return { nA: a, nB: max - a };
}

/** The layer's inputs on the device, the kernel's pipeline, and every buffer made (destroyed together). */
export class ProbeDevice {
  readonly gemms: Gemm[];
  readonly pipeline: GPUComputePipeline;
  readonly seeds: ReturnType<typeof inputSeeds>;
  readonly pageFloats: number;
  readonly poolPages: number;
  readonly x: GPUBuffer;
  readonly q: GPUBuffer;
  readonly kv: GPUBuffer;
  readonly w: GPUBuffer[];
  private readonly made: GPUBuffer[] = [];

  /**
   * Inputs for batches up to `maxBatch`, filled on the device from `seed`; grids are cut to
   * `maxGroups` workgroups (the device's limit; tests pass fewer to make both sides loop).
   */
  constructor(
    readonly device: GPUDevice,
    readonly shape: LayerShape,
    maxBatch: number,
    seed: number,
    readonly maxGroups = device.limits.maxComputeWorkgroupsPerDimension,
  ) {
    const s = shape;
    this.gemms = layerGemms(s);
    this.seeds = inputSeeds(seed);
    this.pageFloats = 2 * s.pageSize * s.kvHeads * s.headDim;
    this.poolPages = Math.max(1, Math.floor(s.poolBytes / 4 / this.pageFloats));
    const module = device.createShaderModule({ code: partitionedKernelWgsl({ headDim: s.headDim }) });
    this.pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const fill = new HashFill(device);
    const filled = (seedOf: number, n: number) => {
      const b = this.empty(n * 4);
      fill.fill(b, seedOf, n);
      return b;
    };
    // one activation buffer for every GEMM, each reading it as [batch, its K]
    this.x = filled(this.seeds.x, maxBatch * Math.max(...this.gemms.map((g) => g.K)));
    this.q = filled(this.seeds.q, maxBatch * s.heads * s.headDim);
    this.kv = filled(this.seeds.kv, this.poolPages * this.pageFloats);
    this.w = this.gemms.map((g, i) => filled(this.seeds.w[i]!, g.K * g.N));
  }

  /** A storage buffer of `bytes` (zeroed by Dawn on first use). */
  empty(bytes: number): GPUBuffer {
    const b = this.device.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    this.made.push(b);
    return b;
  }

  /** A storage buffer holding `data`. */
  upload(data: Uint32Array | Float32Array): GPUBuffer {
    const b = this.empty(data.byteLength);
    this.device.queue.writeBuffer(b, 0, data);
    return b;
  }

  uniform(words: Uint32Array): GPUBuffer {
    const u = this.device.createBuffer({
      size: words.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.queue.writeBuffer(u, 0, words);
    this.made.push(u);
    return u;
  }

  /** A dispatch of the kernel with bindings x, w, y, q, kv, meta, o in order, and its uniforms. */
  dispatch(bufs: GPUBuffer[], shape: PartitionedShape): Dispatch {
    const grid = capGrid(shape.nA, shape.nB, this.maxGroups);
    const u = this.uniform(partitionedUniforms({ ...shape, ...grid }));
    const entries = [...bufs, u].map((b, i) => ({ binding: i, resource: { buffer: b } }));
    const bind = this.device.createBindGroup({ layout: this.pipeline.getBindGroupLayout(0), entries });
    return { bind, groups: grid.nA + grid.nB };
  }

  async destroy(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    for (const b of this.made.splice(0)) b.destroy();
  }
}

/** One batch size's requests: context lengths, pages, the page table, and the outputs. */
export class ProbeBatch {
  readonly lens: number[];
  readonly pages: number[][];
  readonly meta: Uint32Array;
  readonly metaBuf: GPUBuffer;
  readonly y: GPUBuffer[];
  readonly o: GPUBuffer;
  readonly attn: Pick<PartitionedShape, 'reqsB' | 'heads' | 'kvHeads' | 'headDim' | 'pageSize'>;
  /** Requests and output columns the oracle checks. */
  readonly sampleRows: number[];
  readonly sampleCols: number[];

  constructor(
    readonly p: ProbeDevice,
    readonly batch: number,
    seed: number,
  ) {
    const s = p.shape;
    const rng = new Rng(seed + batch);
    this.lens = Array.from({ length: batch }, () =>
      Math.round(Math.exp(rng.uniform(Math.log(s.minCtx), Math.log(s.maxCtx)))),
    );
    this.pages = this.lens.map((l) =>
      Array.from({ length: Math.ceil(l / s.pageSize) }, () => rng.int(0, p.poolPages - 1)),
    );
    this.meta = packPageTable(this.pages, this.lens);
    this.metaBuf = p.upload(this.meta);
    this.y = p.gemms.map((g) => p.empty(batch * g.N * 4));
    this.o = p.empty(batch * s.heads * s.headDim * 4);
    this.attn = { reqsB: batch, heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, pageSize: s.pageSize };
    const N = p.gemms[GATE_UP]!.N;
    this.sampleRows = [...new Set([0, batch - 1, rng.int(0, batch - 1)])];
    this.sampleCols = [...new Set([0, N - 1, ...Array.from({ length: 14 }, () => rng.int(0, N - 1))])];
  }

  /**
   * GEMM `gi` on nA workgroups beside attention on nB (either 0: that op alone; gi null: attention
   * alone). An op the dispatch does not run gets outputs of its own: sharing a written buffer would
   * make Dawn order dispatches that are in fact independent.
   */
  dispatch(gi: number | null, nA: number, nB: number): Dispatch {
    const p = this.p;
    const g = gi === null ? { K: 1, N: 1 } : p.gemms[gi]!;
    const y = gi === null ? p.empty(16) : this.y[gi]!;
    const out = nB === 0 ? p.empty(16) : this.o;
    const shape = { rowsA: gi === null ? 0 : this.batch, K: g.K, N: g.N, nA, nB, ...this.attn };
    return p.dispatch([p.x, p.w[gi ?? 0]!, y, p.q, p.kv, this.metaBuf, out], shape);
  }

  /**
   * One workgroup with no work item on either side (no GEMM rows, no requests): what a dispatch and
   * its barrier cost beyond their work. Not `dispatch(null, 0, 1)`: the kernel is persistent, so
   * one attention workgroup would loop over every request of the batch.
   */
  emptyDispatch(): Dispatch {
    const p = this.p;
    const shape = { rowsA: 0, K: 1, N: 1, nA: 0, nB: 1, ...this.attn, reqsB: 0 };
    return p.dispatch([p.x, p.w[0]!, p.empty(16), p.q, p.kv, this.metaBuf, p.empty(16)], shape);
  }

  gemmItems(gi: number): number {
    return gemmItems({ rowsA: this.batch, N: this.p.gemms[gi]!.N });
  }

  attentionItems(): number {
    return attentionItems(this.attn);
  }

  /** The gate-up GEMM and the attention in one dispatch, the GEMM on `share` of a grid as large as their work items. */
  fused(share: number): Dispatch {
    const items = this.gemmItems(GATE_UP) + this.attentionItems();
    const nA = Math.max(1, Math.round(items * share));
    return this.dispatch(GATE_UP, nA, Math.max(1, items - nA));
  }
}
