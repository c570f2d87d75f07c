/**
 * Does this driver overlap work of different kinds inside one queue? On one layer of the
 * Llama-3-8B shape (random f32 weights made in memory, a paged KV pool; no checkpoint), it times
 *
 *   (a) gemm        the layer's GEMM chain over a batch of B rows (QKV, O, gate-up, down), alone
 *   (b) attention   decode attention of B requests at mixed context lengths (log-uniform), alone
 *   (c) upload      a host→device writeBuffer (the step's page table, and a 32 MiB block), alone
 *   (d) one pass    (a) and (b) as independent dispatches in one compute pass of one command buffer
 *       (a)+(c)     the upload written while the GEMM chain runs
 *   (e) fused       the chain with its gate-up GEMM and the attention in one partitioned dispatch
 *                   (src/attention/partitioned-kernel.ts) at several workgroup shares
 *   (f) layer       the layer with its real dependencies over the whole batch, and as two
 *                   nano-batches: back to back, pipelined (each one's attention beside the other's
 *                   GEMM) as separate dispatches, and pipelined with those pairs fused
 *
 * Every combined time is a row whose anchor is the sum of its parts alone (ratio > 1: the driver
 * overlapped them) and whose limit is the larger part (perfect overlap); the nano-batched layers'
 * anchor is the plain layer (ratio > 1: nano-batching wins). Kernels are the
 * partitioned kernel's own naive f32 ones (no tensor cores): the question is overlap, not speed.
 * The GPU clock is the host's from submit to completion over many repetitions in one command
 * buffer (timestamp queries are quantised too coarsely through Dawn).
 *
 * Checked before anything is written: the fused dispatch's outputs on sampled rows and requests
 * against the float64 oracle (partitioned-reference.ts).
 *
 * The alone-times also make the cost table of the nano-batch search (src/engine/nano-search.ts); the
 * plans it gives are printed, and with --write-plan FILE cached for `tessera serve --nano-batches auto`.
 *
 * Usage: node dist/bench/nanoflow-overlap.js [--tiny] [--batches 256,512,1024] [--seed N]
 *          [--write-plan FILE --model-name NAME]   (NAME: the served model's name, the cache's key with the card)
 */
import '../src/register-all.js';
import { writeFileSync } from 'node:fs';
import {
  attentionItems,
  gemmItems,
  partitionedKernelWgsl,
  partitionedUniforms,
  type PartitionedShape,
} from '../src/attention/partitioned-kernel.js';
import { packPageTable, referenceDecodeAttention } from '../src/attention/partitioned-reference.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { type NanoCostTable, NanoPlanCache, nanoPlanKey } from '../src/engine/nano-search.js';
import { Rng } from '../src/util/rng.js';
import { type BenchRow, cardName, median, row, writeResults } from './results.js';
import { Check } from './verify.js';

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

interface Gemm {
  name: string;
  K: number;
  N: number;
}

function layerGemms(s: LayerShape): Gemm[] {
  const qkv = (s.heads + 2 * s.kvHeads) * s.headDim;
  return [
    { name: 'qkv', K: s.hidden, N: qkv },
    { name: 'o', K: s.heads * s.headDim, N: s.hidden },
    { name: 'gate-up', K: s.hidden, N: 2 * s.ffn },
    { name: 'down', K: s.ffn, N: s.hidden },
  ];
}

/** One dispatch: a bind group, its uniforms, its grid. */
interface Dispatch {
  bind: GPUBindGroup;
  groups: number;
}

export interface OverlapResult {
  rows: BenchRow[];
  /** Max error of the fused dispatch's sampled outputs against the oracle, GEMM and attention. */
  gemmErr: number;
  gemmTol: number;
  attentionErr: number;
  attentionTol: number;
  /** Costs for the nano-batch search (ms per layer): the GEMM chain and attention alone at this batch. */
  gemmMs: number;
  attentionMs: number;
  /** Attention alone on a fraction of its work items as workgroups (persistent): [fraction, ms]. */
  attentionAtShare: [number, number][];
  /** One near-empty dispatch: what a pipeline stage costs beyond its work. */
  stageMs: number;
}

/** Random f32 values in [-1, 1) for a buffer (seeded, fast enough for a GiB). */
function randomF32(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  let s = (rng.next() * 2 ** 32) >>> 0;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

/** Probes one batch size; the rows name it `B<batch>`. */
export async function probeOverlap(
  backend: WebGpuBackend,
  s: LayerShape,
  batch: number,
  seed: number,
  minMs = 30,
): Promise<OverlapResult> {
  const device = backend.device;
  const rng = new Rng(seed);
  const made: GPUBuffer[] = [];
  const buffer = (data: Float32Array | Uint32Array, usage = 0) => {
    const b = device.createBuffer({
      size: Math.max(16, Math.ceil(data.byteLength / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | usage,
    });
    // in 64 MiB pieces: one staging copy of a GiB is more than Dawn needs to hold at once
    const chunk = 16 << 20;
    for (let at = 0; at < data.length; at += chunk)
      device.queue.writeBuffer(b, at * 4, data.subarray(at, Math.min(data.length, at + chunk)));
    made.push(b);
    return b;
  };
  try {
    const gemms = layerGemms(s);
    const maxK = Math.max(...gemms.map((g) => g.K));
    // one activation buffer for every GEMM, each reading it as [batch, its K]
    const x = randomF32(rng, batch * maxK);
    const xBuf = buffer(x);
    const weights = gemms.map((g) => randomF32(rng, g.K * g.N));
    const wBufs = weights.map((w) => buffer(w));
    const yBufs = gemms.map((g) => buffer(new Float32Array(batch * g.N)));
    // attention: mixed lengths, pages drawn at random from a pool of poolBytes
    const lens = Array.from({ length: batch }, () =>
      Math.round(Math.exp(rng.uniform(Math.log(s.minCtx), Math.log(s.maxCtx)))),
    );
    const pageFloats = 2 * s.pageSize * s.kvHeads * s.headDim;
    const poolPages = Math.max(1, Math.floor(s.poolBytes / 4 / pageFloats));
    const pages = lens.map((l) => Array.from({ length: Math.ceil(l / s.pageSize) }, () => rng.int(0, poolPages - 1)));
    const meta = packPageTable(pages, lens);
    const q = randomF32(rng, batch * s.heads * s.headDim);
    const kv = randomF32(rng, poolPages * pageFloats);
    const qBuf = buffer(q);
    const kvBuf = buffer(kv);
    const metaBuf = buffer(meta);
    const oBuf = buffer(new Float32Array(q.length));
    const module = device.createShaderModule({ code: partitionedKernelWgsl({ headDim: s.headDim }) });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const attnShape = { reqsB: batch, heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, pageSize: s.pageSize };
    const dispatch = (gi: number | null, nA: number, nB: number): Dispatch => {
      const g = gi === null ? { K: 1, N: 1 } : gemms[gi]!;
      const shape: PartitionedShape = { rowsA: gi === null ? 0 : batch, K: g.K, N: g.N, nA, nB, ...attnShape };
      const u = device.createBuffer({ size: 48, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(u, 0, partitionedUniforms(shape));
      made.push(u);
      // an op the dispatch does not run gets outputs of its own: sharing a written buffer would make
      // Dawn order dispatches that are in fact independent
      const y = gi === null ? buffer(new Float32Array(4)) : yBufs[gi]!;
      const out = nB === 0 ? buffer(new Float32Array(4)) : oBuf;
      const entries = [xBuf, wBufs[gi ?? 0]!, y, qBuf, kvBuf, metaBuf, out, u].map((b, i) => ({
        binding: i,
        resource: { buffer: b },
      }));
      return { bind: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }), groups: nA + nB };
    };
    const attentionAlone = dispatch(null, 0, attentionItems(attnShape));
    const gemmAlone = gemms.map((g, i) => dispatch(i, gemmItems({ rowsA: batch, N: g.N }), 0));
    const GATE_UP = 2;

    /** ms per repetition of `passes` (each inner list one compute pass), `before` run ahead of each submit. */
    const time = async (passes: Dispatch[][], before: () => void = () => {}): Promise<number> => {
      const run = async (reps: number) => {
        const enc = device.createCommandEncoder();
        for (let r = 0; r < reps; r++)
          for (const list of passes) {
            const pass = enc.beginComputePass();
            pass.setPipeline(pipeline);
            for (const d of list) {
              pass.setBindGroup(0, d.bind);
              pass.dispatchWorkgroups(d.groups);
            }
            pass.end();
          }
        const t0 = performance.now();
        before();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        return performance.now() - t0;
      };
      let one = await run(1);
      for (let warm = one; warm < 200; warm += one) one = await run(1);
      const reps = Math.max(1, Math.min(200, Math.ceil(minMs / Math.max(one, 0.01))));
      const per: number[] = [];
      for (let b = 0; b < 5; b++) per.push((await run(reps)) / reps);
      return median(per);
    };
    const timeUpload = async (bytes: number, withWork: Dispatch[][] = []) => {
      const src = new Uint8Array(bytes);
      const dst = device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: GPUBufferUsage.COPY_DST });
      made.push(dst);
      return withWork.length
        ? time(withWork, () => device.queue.writeBuffer(dst, 0, src))
        : timeUploadOnly(device, dst, src);
    };

    const tGemm = await time([gemmAlone]);
    const tAttn = await time([[attentionAlone]]);
    const tMetaUpload = await timeUpload(meta.byteLength + 12 * batch);
    const tUpload = await timeUpload(s.uploadBytes);
    const tOnePass = await time([[...gemmAlone, attentionAlone]]);
    const tGemmUpload = await timeUpload(s.uploadBytes, [gemmAlone]);
    // fused: the gate-up GEMM and the attention share one dispatch; the shares are fractions of
    // a grid as large as the two ops' work items together (both loop when given fewer)
    const items = gemmItems({ rowsA: batch, N: gemms[GATE_UP]!.N }) + attentionItems(attnShape);
    const tGateUp = await time([[gemmAlone[GATE_UP]!]]);
    // attention's speed on part of the grid (where it saturates bandwidth), and a stage's fixed cost
    const attnItems = attentionItems(attnShape);
    const attentionAtShare: [number, number][] = [];
    for (const f of [1 / 8, 1 / 4, 1 / 2])
      attentionAtShare.push([f, await time([[dispatch(null, 0, Math.max(1, Math.round(attnItems * f)))]])]);
    const stageMs = await time([[{ ...dispatch(null, 0, 1), groups: 1 }]]);
    const shares = [0.25, 0.5, 0.75, tGateUp / (tGateUp + tAttn)];
    const fused: { share: number; ms: number }[] = [];
    for (const share of shares) {
      const nA = Math.max(1, Math.round(items * share));
      const nB = Math.max(1, items - nA);
      const d = dispatch(GATE_UP, nA, nB);
      const chain = gemmAlone.map((g, i) => (i === GATE_UP ? d : g));
      fused.push({ share, ms: await time([chain]) });
    }
    const best = fused.reduce((a, b) => (b.ms < a.ms ? b : a));

    const layer = await timeNanoLayer({
      device,
      pipeline,
      buffer,
      uniform: (words) => {
        const u = device.createBuffer({
          size: words.byteLength,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        });
        device.queue.writeBuffer(u, 0, words);
        made.push(u);
        return u;
      },
      time,
      gemms,
      wBufs,
      xBuf,
      kvBuf,
      shape: s,
      batch,
      pageTable: (from, to) => buffer(packPageTable(pages.slice(from, to), lens.slice(from, to))),
    });

    // the answer of the best fused dispatch (it ran last for the last share; run it once more)
    {
      const nA = Math.max(1, Math.round(items * best.share));
      const d = dispatch(GATE_UP, nA, Math.max(1, items - nA));
      const enc = device.createCommandEncoder();
      enc.clearBuffer(yBufs[GATE_UP]!);
      enc.clearBuffer(oBuf);
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, d.bind);
      pass.dispatchWorkgroups(d.groups);
      pass.end();
      device.queue.submit([enc.finish()]);
    }
    const g = gemms[GATE_UP]!;
    const sampleRows = [...new Set([0, batch - 1, rng.int(0, batch - 1)])];
    const sampleCols = [...new Set([0, g.N - 1, ...Array.from({ length: 14 }, () => rng.int(0, g.N - 1))])];
    const y = await readF32(device, yBufs[GATE_UP]!, batch * g.N);
    let gemmErr = 0;
    for (const r of sampleRows)
      for (const c of sampleCols) {
        let want = 0;
        for (let k = 0; k < g.K; k++) want += x[r * g.K + k]! * weights[GATE_UP]![k * g.N + c]!;
        gemmErr = Math.max(gemmErr, Math.abs(want - y[r * g.N + c]!));
      }
    const o = await readF32(device, oBuf, q.length);
    let attentionErr = 0;
    const per = s.heads * s.headDim;
    for (const r of sampleRows) {
      const want = referenceDecodeAttention(
        q.subarray(r * per, (r + 1) * per),
        kv,
        packPageTable([pages[r]!], [lens[r]!]),
        { ...attnShape, reqsB: 1 },
      );
      for (let i = 0; i < per; i++) attentionErr = Math.max(attentionErr, Math.abs(want[i]! - o[r * per + i]!));
    }

    const tag = `B${batch}`;
    const ms = (c: string, ours: number, why: string) =>
      row({
        case: `${tag} ${c}`,
        metric: 'ms',
        higherIsBetter: false,
        ours,
        anchor: null,
        anchorName: null,
        limit: null,
        limitName: null,
        anchorWhyNull: why,
      });
    const together = (c: string, ours: number, parts: number[]) =>
      row({
        case: `${tag} ${c}`,
        metric: 'ms',
        higherIsBetter: false,
        ours,
        anchor: parts.reduce((a, b) => a + b, 0),
        anchorName: 'parts run one after another',
        limit: Math.max(...parts),
        limitName: 'perfect overlap',
      });
    const alone = 'a part alone: the combined rows compare against it';
    const versusPlain = (c: string, ours: number) =>
      row({
        case: `${tag} ${c}`,
        metric: 'ms',
        higherIsBetter: false,
        ours,
        anchor: layer.plain,
        anchorName: 'the plain layer over the whole batch',
        limit: null,
        limitName: null,
      });
    const rows = [
      ms('gemm chain alone', tGemm, alone),
      ms('decode attention alone', tAttn, alone),
      ms('layer (QKV, attention, O, gate-up, down; dependent), plain', layer.plain, alone),
      ms(`upload ${meta.byteLength + 12 * batch} B (step metadata) alone`, tMetaUpload, alone),
      ms(`upload ${s.uploadBytes} B alone`, tUpload, alone),
      together('gemm chain + attention, one pass', tOnePass, [tGemm, tAttn]),
      together(`gemm chain + upload ${s.uploadBytes} B`, tGemmUpload, [tGemm, tUpload]),
      versusPlain('layer, 2 nano-batches back to back', layer.backToBack),
      versusPlain('layer, 2 nano-batches pipelined, separate dispatches', layer.pipelined),
      versusPlain('layer, 2 nano-batches pipelined, attention fused to the next GEMM', layer.pipelinedFused),
      ...fused.map((f, i) =>
        together(
          `gemm chain with gate-up fused to attention, share ${f.share.toFixed(2)}${i === shares.length - 1 ? ' (by alone times)' : ''}`,
          f.ms,
          [tGemm, tAttn],
        ),
      ),
    ];
    return {
      rows,
      gemmErr,
      gemmTol: 8 * Math.sqrt(g.K) * 2 ** -24 * g.K,
      attentionErr,
      attentionTol: 2e-5,
      gemmMs: tGemm,
      attentionMs: tAttn,
      attentionAtShare,
      stageMs,
    };
  } finally {
    await device.queue.onSubmittedWorkDone();
    for (const b of made) b.destroy();
  }
}

/** What `timeNanoLayer` needs of the probe's setup. */
interface LayerProbe {
  device: GPUDevice;
  pipeline: GPUComputePipeline;
  buffer: (data: Float32Array | Uint32Array) => GPUBuffer;
  uniform: (words: Uint32Array) => GPUBuffer;
  time: (passes: Dispatch[][]) => Promise<number>;
  gemms: readonly Gemm[];
  wBufs: readonly GPUBuffer[];
  xBuf: GPUBuffer;
  kvBuf: GPUBuffer;
  shape: LayerShape;
  batch: number;
  /** The page table of requests [from, to). */
  pageTable: (from: number, to: number) => GPUBuffer;
}

/**
 * One layer with its real dependencies (QKV → attention → O → gate-up → down, each reading the
 * previous one's output buffer), over the whole batch, and as two nano-batches: back to back,
 * pipelined so that each nano-batch's attention sits beside the other's GEMM (Q1 | A1 Q2 | O1 A2 |
 * G1 O2 | D1 G2 | D2), and pipelined with those pairs fused into one partitioned dispatch
 * (Q1 | A1+Q2 | A2+O1 | G1 O2 | D1 G2 | D2; every workgroup one work item). Dawn puts a barrier before
 * each dispatch that reads a buffer written since its last barrier, and a Vulkan barrier waits for
 * all earlier work: separate dispatches overlap only where the second needs no new barrier, which
 * the fused stages guarantee by carrying both dependencies into one dispatch. Values are not
 * checked here (the fused dispatch is, above); the layout of the reused buffers is only sized.
 */
async function timeNanoLayer(p: LayerProbe): Promise<{
  plain: number;
  backToBack: number;
  pipelined: number;
  pipelinedFused: number;
}> {
  const s = p.shape;
  const scratch = () => p.buffer(new Float32Array(4));
  const stage = (
    gemm: { gi: number; rows: number; x: GPUBuffer; y: GPUBuffer } | null,
    attn: { reqs: number; q: GPUBuffer; o: GPUBuffer; pt: GPUBuffer } | null,
  ): Dispatch => {
    const g = gemm ? p.gemms[gemm.gi]! : { K: 1, N: 1 };
    const nA = gemm ? gemmItems({ rowsA: gemm.rows, N: g.N }) : 0;
    const nB = attn ? attentionItems({ reqsB: attn.reqs, heads: s.heads }) : 0;
    const u = p.uniform(
      partitionedUniforms({
        rowsA: gemm?.rows ?? 0,
        K: g.K,
        N: g.N,
        nA,
        reqsB: attn?.reqs ?? 0,
        heads: s.heads,
        kvHeads: s.kvHeads,
        headDim: s.headDim,
        pageSize: s.pageSize,
        nB,
      }),
    );
    const bufs = [
      gemm?.x ?? p.xBuf,
      p.wBufs[gemm?.gi ?? 0]!,
      gemm?.y ?? scratch(),
      attn?.q ?? p.xBuf,
      p.kvBuf,
      attn?.pt ?? scratch(),
      attn?.o ?? scratch(),
      u,
    ];
    const entries = bufs.map((b, i) => ({ binding: i, resource: { buffer: b } }));
    return { bind: p.device.createBindGroup({ layout: p.pipeline.getBindGroupLayout(0), entries }), groups: nA + nB };
  };
  const [qkv, o, gateUp, down] = p.gemms as [Gemm, Gemm, Gemm, Gemm];
  /** A nano-batch of requests [from, to): its activation buffers and its ops. */
  const nanoBatch = (from: number, to: number) => {
    const rows = to - from;
    const b = {
      rows,
      pt: p.pageTable(from, to),
      yq: p.buffer(new Float32Array(rows * qkv.N)),
      o: p.buffer(new Float32Array(rows * o.K)),
      yo: p.buffer(new Float32Array(rows * o.N)),
      ygu: p.buffer(new Float32Array(rows * gateUp.N)),
      yd: p.buffer(new Float32Array(rows * down.N)),
    };
    return {
      ...b,
      Q: stage({ gi: 0, rows, x: p.xBuf, y: b.yq }, null),
      A: stage(null, { reqs: rows, q: b.yq, o: b.o, pt: b.pt }),
      O: stage({ gi: 1, rows, x: b.o, y: b.yo }, null),
      G: stage({ gi: 2, rows, x: b.yo, y: b.ygu }, null),
      D: stage({ gi: 3, rows, x: b.ygu, y: b.yd }, null),
    };
  };
  const all = nanoBatch(0, p.batch);
  const half = Math.ceil(p.batch / 2);
  const [n1, n2] = [nanoBatch(0, half), nanoBatch(half, p.batch)];
  const attnQkv = stage({ gi: 0, rows: n2.rows, x: p.xBuf, y: n2.yq }, { reqs: n1.rows, q: n1.yq, o: n1.o, pt: n1.pt });
  const attnO = stage({ gi: 1, rows: n1.rows, x: n1.o, y: n1.yo }, { reqs: n2.rows, q: n2.yq, o: n2.o, pt: n2.pt });
  return {
    plain: await p.time([[all.Q, all.A, all.O, all.G, all.D]]),
    backToBack: await p.time([[n1.Q, n1.A, n1.O, n1.G, n1.D, n2.Q, n2.A, n2.O, n2.G, n2.D]]),
    pipelined: await p.time([[n1.Q, n1.A, n2.Q, n1.O, n2.A, n1.G, n2.O, n1.D, n2.G, n2.D]]),
    pipelinedFused: await p.time([[n1.Q, attnQkv, attnO, n1.G, n2.O, n1.D, n2.G, n2.D]]),
  };
}

/** ms of a writeBuffer of `src` until the queue says it is done (median of 5 after a warm-up). */
async function timeUploadOnly(device: GPUDevice, dst: GPUBuffer, src: Uint8Array): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    device.queue.writeBuffer(dst, 0, src);
    device.queue.submit([]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await once();
  const per: number[] = [];
  for (let i = 0; i < 5; i++) per.push(await once());
  return median(per);
}

async function readF32(device: GPUDevice, src: GPUBuffer, n: number): Promise<Float32Array> {
  const rb = device.createBuffer({
    size: Math.ceil((n * 4) / 16) * 16,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, rb, 0, rb.size);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(rb.getMappedRange().slice(0, n * 4));
  rb.unmap();
  rb.destroy();
  return out;
}

/** The probe at each batch size, checked; the caller writes the rows. */
/**
 * The nano-batch search's cost table (src/engine/nano-search.ts) from the probe's measurements:
 * the GEMM chain and attention alone per batch size, times the layers; attention's saturation as
 * the smallest fraction of its grid that runs within 10% of the whole grid's time at the largest
 * batch; a stage's fixed cost as one near-empty dispatch per layer.
 */
export function costTableFrom(results: readonly { batch: number; r: OverlapResult }[], layers: number): NanoCostTable {
  const sorted = [...results].sort((a, b) => a.batch - b.batch);
  const largest = sorted[sorted.length - 1]!.r;
  const saturating = largest.attentionAtShare.filter(([, ms]) => ms <= 1.1 * largest.attentionMs).map(([f]) => f);
  return {
    gemm: sorted.map(({ batch, r }) => [batch, r.gemmMs * layers] as const),
    attention: sorted.map(({ batch, r }) => [batch, r.attentionMs * layers] as const),
    attentionSaturation: saturating.length ? Math.min(...saturating) : 1,
    stageMs: median(sorted.map(({ r }) => r.stageMs)) * layers,
  };
}

/** The probe at each batch size, checked; the rows, and the cost table for the nano-batch search. */
export async function runOverlapProbe(
  backend: WebGpuBackend,
  shape: LayerShape,
  batches: readonly number[],
  seed: number,
  check: Check,
  minMs?: number,
): Promise<{ rows: BenchRow[]; costs: NanoCostTable }> {
  const rows: BenchRow[] = [];
  const results: { batch: number; r: OverlapResult }[] = [];
  for (const b of batches) {
    const r = await probeOverlap(backend, shape, b, seed + b, minMs);
    check.that(
      r.gemmErr <= r.gemmTol,
      `B${b}: fused dispatch's gate-up GEMM matches the float64 oracle on sampled outputs`,
      `max error ${r.gemmErr.toExponential(2)} ≤ ${r.gemmTol.toExponential(2)}`,
    );
    check.that(
      r.attentionErr <= r.attentionTol,
      `B${b}: fused dispatch's attention matches the float64 oracle on sampled requests`,
      `max error ${r.attentionErr.toExponential(2)} ≤ ${r.attentionTol.toExponential(2)}`,
    );
    // each batch's rows as soon as they are measured: a run cut short by its time box keeps them
    for (const x of r.rows)
      console.log(`  ${x.case} ${x.metric}: ${x.ours.toFixed(3)} (anchor ${x.anchor?.toFixed(3) ?? '—'})`);
    rows.push(...r.rows);
    results.push({ batch: b, r });
  }
  return { rows, costs: costTableFrom(results, shape.layers) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tiny = process.argv.includes('--tiny');
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const batches = (arg('--batches') ?? (tiny ? '4,8' : '256,512,1024')).split(',').map(Number);
  const seed = Number(arg('--seed') ?? 20261207);
  console.log(`nanoflow-overlap: ${tiny ? 'tiny' : 'Llama-3-8B'} layer, batches ${batches.join(', ')}, seed ${seed}`);
  const backend = await WebGpuBackend.create();
  const card = cardName(backend);
  const check = new Check('nanoflow-overlap');
  const { rows, costs } = await runOverlapProbe(backend, tiny ? TINY_LAYER : LLAMA3_8B_LAYER, batches, seed, check);
  // the nano-batch plans these costs give, cached for `tessera serve --nano-batches auto --nano-plan FILE`
  const cache = new NanoPlanCache(nanoPlanKey(arg('--model-name') ?? (tiny ? 'tiny' : 'llama3-8b'), card), costs);
  for (const b of batches) {
    const plan = cache.plan({ decodeTokens: b, prefillTokens: 0 });
    console.log(
      `B${b} decode: ${plan.nano} nano-batch(es), GEMM share ${plan.share.toFixed(3)}, modelled ${plan.ms.toFixed(2)} ms vs plain ${plan.plainMs.toFixed(2)} ms`,
    );
  }
  const planFile = arg('--write-plan');
  if (planFile) {
    writeFileSync(planFile, `${JSON.stringify(cache, null, 2)}\n`);
    console.log(`nano plan cache (${cache.key}) → ${planFile}`);
  }
  writeResults(
    'nanoflow-overlap',
    card,
    rows,
    `${tiny ? 'tiny' : 'Llama-3-8B'} layer shape, f32 naive kernels of src/attention/partitioned-kernel.ts; seed ${seed}. ` +
      'ratio > 1 on a combined row: the driver overlapped the parts (anchor = parts one after another, limit = the larger part).',
    check.passed(),
  );
  backend.destroy();
}
