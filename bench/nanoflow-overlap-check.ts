/**
 * The overlap probe's correctness check: the partitioned dispatch (gate-up GEMM beside decode
 * attention) run once at a share, its outputs read back on sampled rows and requests only, and
 * compared with the float64 oracle (src/attention/partitioned-reference.ts) computed from the same
 * inputs — recomputed on the host from their seeds (bench/hash-fill.ts), never from the kernel's
 * outputs.
 */
import { packPageTable, referenceDecodeAttention } from '../src/attention/partitioned-reference.js';
import { hashF32, hashF32Range } from './hash-fill.js';
import { GATE_UP, type ProbeBatch } from './nanoflow-overlap-setup.js';

export interface FusedCheck {
  gemmErr: number;
  gemmTol: number;
  attentionErr: number;
  attentionTol: number;
}

/** Runs the fused dispatch at `share` and compares its sampled outputs with the oracle. */
export async function checkFused(b: ProbeBatch, share: number): Promise<FusedCheck> {
  const { device } = b.p;
  const d = b.fused(share);
  const enc = device.createCommandEncoder();
  enc.clearBuffer(b.y[GATE_UP]!);
  enc.clearBuffer(b.o);
  const pass = enc.beginComputePass();
  pass.setPipeline(b.p.pipeline);
  pass.setBindGroup(0, d.bind);
  pass.dispatchWorkgroups(d.groups);
  pass.end();
  device.queue.submit([enc.finish()]);
  const { K, N } = b.p.gemms[GATE_UP]!;
  const per = b.attn.heads * b.attn.headDim;
  const y = await readRows(device, b.y[GATE_UP]!, N, b.sampleRows);
  const o = await readRows(device, b.o, per, b.sampleRows);
  return {
    gemmErr: gemmError(b, y),
    gemmTol: 8 * Math.sqrt(K) * 2 ** -24 * K,
    attentionErr: attentionError(b, o),
    attentionTol: 2e-5,
  };
}

/** Max |oracle − kernel| of the gate-up GEMM on the sampled rows × columns. */
function gemmError(b: ProbeBatch, y: Float32Array): number {
  const { K, N } = b.p.gemms[GATE_UP]!;
  const seeds = b.p.seeds;
  let err = 0;
  b.sampleRows.forEach((r, ri) => {
    const x = hashF32Range(seeds.x, r * K, K);
    for (const c of b.sampleCols) {
      let want = 0;
      for (let k = 0; k < K; k++) want += x[k]! * hashF32(seeds.w[GATE_UP]!, k * N + c);
      err = Math.max(err, Math.abs(want - y[ri * N + c]!));
    }
  });
  return err;
}

/**
 * Max |oracle − kernel| of attention on the sampled requests. Each request's pages are gathered
 * from the hashed pool into a pool of its own (page ids renumbered), so the host makes a few MB of
 * the pool rather than all of it.
 */
function attentionError(b: ProbeBatch, o: Float32Array): number {
  const { pageFloats, seeds } = b.p;
  const per = b.attn.heads * b.attn.headDim;
  let err = 0;
  b.sampleRows.forEach((r, ri) => {
    const pages = b.pages[r]!;
    const pool = new Float32Array(pages.length * pageFloats);
    pages.forEach((page, i) => {
      pool.set(hashF32Range(seeds.kv, page * pageFloats, pageFloats), i * pageFloats);
    });
    const q = hashF32Range(seeds.q, r * per, per);
    const table = packPageTable([pages.map((_, i) => i)], [b.lens[r]!]);
    const want = referenceDecodeAttention(q, pool, table, { ...b.attn, reqsB: 1 });
    for (let i = 0; i < per; i++) err = Math.max(err, Math.abs(want[i]! - o[ri * per + i]!));
  });
  return err;
}

/** Rows `rows` of a [*, width] f32 buffer, packed in that order. */
async function readRows(
  device: GPUDevice,
  src: GPUBuffer,
  width: number,
  rows: readonly number[],
): Promise<Float32Array> {
  const bytes = width * 4;
  const rb = device.createBuffer({
    size: Math.ceil((rows.length * bytes) / 16) * 16,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  rows.forEach((r, i) => {
    enc.copyBufferToBuffer(src, r * bytes, rb, i * bytes, bytes);
  });
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(rb.getMappedRange().slice(0, rows.length * bytes));
  rb.unmap();
  rb.destroy();
  return out;
}
