/**
 * One layer with its real dependencies (QKV → attention → O → gate-up → down, each reading the
 * previous one's output buffer) as dispatch lists for the overlap probe: over the whole batch, and
 * as two nano-batches — back to back, pipelined so that each nano-batch's attention sits beside the
 * other's GEMM (Q1 | A1 Q2 | O1 A2 | G1 O2 | D1 G2 | D2), and pipelined with those pairs fused into
 * one partitioned dispatch (Q1 | A1+Q2 | A2+O1 | G1 O2 | D1 G2 | D2; every workgroup one work item).
 *
 * Dawn puts a barrier before each dispatch that reads a buffer written since its last barrier, and
 * a Vulkan barrier waits for all earlier work: separate dispatches overlap only where the second
 * needs no new barrier, which the fused stages guarantee by carrying both dependencies into one
 * dispatch. Values are not checked here (the fused dispatch is, in nanoflow-overlap-check.ts); the
 * layout of the reused buffers is only sized.
 */
import { attentionItems, gemmItems } from '../src/attention/partitioned-kernel.js';
import { packPageTable } from '../src/attention/partitioned-reference.js';
import type { Dispatch, Gemm, ProbeBatch } from './nanoflow-overlap-setup.js';

export interface NanoLayerSchedules {
  plain: Dispatch[];
  backToBack: Dispatch[];
  pipelined: Dispatch[];
  pipelinedFused: Dispatch[];
}

interface GemmSide {
  gi: number;
  rows: number;
  x: GPUBuffer;
  y: GPUBuffer;
}

interface AttentionSide {
  reqs: number;
  q: GPUBuffer;
  o: GPUBuffer;
  pt: GPUBuffer;
}

export function nanoLayerSchedules(b: ProbeBatch): NanoLayerSchedules {
  const p = b.p;
  const s = p.shape;
  const scratch = () => p.empty(16);
  const stage = (gemm: GemmSide | null, attn: AttentionSide | null): Dispatch => {
    const g = gemm ? p.gemms[gemm.gi]! : { K: 1, N: 1 };
    const nA = gemm ? gemmItems({ rowsA: gemm.rows, N: g.N }) : 0;
    const nB = attn ? attentionItems({ reqsB: attn.reqs, heads: s.heads }) : 0;
    const shape = { rowsA: gemm?.rows ?? 0, K: g.K, N: g.N, nA, nB, ...b.attn, reqsB: attn?.reqs ?? 0 };
    const bufs = [
      gemm?.x ?? p.x,
      p.w[gemm?.gi ?? 0]!,
      gemm?.y ?? scratch(),
      attn?.q ?? p.x,
      p.kv,
      attn?.pt ?? scratch(),
      attn?.o ?? scratch(),
    ];
    return p.dispatch(bufs, shape);
  };
  const [qkv, o, gateUp, down] = p.gemms as [Gemm, Gemm, Gemm, Gemm];
  /** A nano-batch of requests [from, to): its activation buffers and its ops. */
  const nanoBatch = (from: number, to: number) => {
    const rows = to - from;
    const n = {
      rows,
      pt: p.upload(packPageTable(b.pages.slice(from, to), b.lens.slice(from, to))),
      yq: p.empty(rows * qkv.N * 4),
      o: p.empty(rows * o.K * 4),
      yo: p.empty(rows * o.N * 4),
      ygu: p.empty(rows * gateUp.N * 4),
      yd: p.empty(rows * down.N * 4),
    };
    return {
      ...n,
      Q: stage({ gi: 0, rows, x: p.x, y: n.yq }, null),
      A: stage(null, { reqs: rows, q: n.yq, o: n.o, pt: n.pt }),
      O: stage({ gi: 1, rows, x: n.o, y: n.yo }, null),
      G: stage({ gi: 2, rows, x: n.yo, y: n.ygu }, null),
      D: stage({ gi: 3, rows, x: n.ygu, y: n.yd }, null),
    };
  };
  const all = nanoBatch(0, b.batch);
  const half = Math.ceil(b.batch / 2);
  const [n1, n2] = [nanoBatch(0, half), nanoBatch(half, b.batch)];
  const attnQkv = stage({ gi: 0, rows: n2.rows, x: p.x, y: n2.yq }, { reqs: n1.rows, q: n1.yq, o: n1.o, pt: n1.pt });
  const attnO = stage({ gi: 1, rows: n1.rows, x: n1.o, y: n1.yo }, { reqs: n2.rows, q: n2.yq, o: n2.o, pt: n2.pt });
  return {
    plain: [all.Q, all.A, all.O, all.G, all.D],
    backToBack: [n1.Q, n1.A, n1.O, n1.G, n1.D, n2.Q, n2.A, n2.O, n2.G, n2.D],
    pipelined: [n1.Q, n1.A, n2.Q, n1.O, n2.A, n1.G, n2.O, n1.D, n2.G, n2.D],
    pipelinedFused: [n1.Q, attnQkv, attnO, n1.G, n2.O, n1.D, n2.G, n2.D],
  };
}
