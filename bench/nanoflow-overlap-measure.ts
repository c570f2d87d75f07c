/**
 * The overlap probe's measurements at one batch size (bench/nanoflow-overlap.ts says what each
 * row asks). Every row is handed to `emit` as soon as it is measured, so a run cut short by its
 * time box still has the rows it finished in its log.
 */
import { type BenchRow, row } from './results.js';
import { nanoLayerSchedules } from './nanoflow-overlap-layer.js';
import { GATE_UP, type ProbeBatch } from './nanoflow-overlap-setup.js';
import { type Timer, timeUploadOnly } from './nanoflow-overlap-timer.js';

export interface BatchCosts {
  /**
   * Costs for the nano-batch search, ms per layer of the probe's own kernels (naive f32, no tensor
   * cores; not the engine's): the GEMM chain and attention alone at this batch.
   */
  gemmMs: number;
  attentionMs: number;
  /** Attention alone on a fraction of its work items as workgroups (persistent): [fraction, ms]. */
  attentionAtShare: [number, number][];
  /** One dispatch with no work (bench/nanoflow-overlap-setup.ts `emptyDispatch`): what a pipeline stage costs beyond its work. */
  stageMs: number;
}

/** The shares of the fused dispatch given to the GEMM side, besides the one from the alone times. */
export const FUSED_SHARES = [0.25, 0.5, 0.75];

/** The three kinds of row: a part alone, parts combined (anchor: one after another), a nano-batched layer (anchor: plain). */
function rowMakers(tag: string) {
  const base = { metric: 'ms', higherIsBetter: false } as const;
  return {
    alone: (c: string, ours: number) =>
      row({
        ...base,
        case: `${tag} ${c}`,
        ours,
        anchor: null,
        anchorName: null,
        limit: null,
        limitName: null,
        anchorWhyNull: 'a part alone: the combined rows compare against it',
      }),
    together: (c: string, ours: number, parts: number[]) =>
      row({
        ...base,
        case: `${tag} ${c}`,
        ours,
        anchor: parts.reduce((a, b) => a + b, 0),
        anchorName: 'parts run one after another',
        limit: Math.max(...parts),
        limitName: 'perfect overlap',
      }),
    versusPlain: (c: string, ours: number, plain: number) =>
      row({
        ...base,
        case: `${tag} ${c}`,
        ours,
        anchor: plain,
        anchorName: 'the plain layer over the whole batch',
        limit: null,
        limitName: null,
      }),
  };
}

/** Times every row of one batch size, emitting each as it is measured; returns the search's costs. */
export async function measureBatch(b: ProbeBatch, time: Timer, emit: (r: BenchRow) => void): Promise<BatchCosts> {
  const { device } = b.p;
  const s = b.p.shape;
  // every row is one layer of the probe's naive f32 kernels, not the engine's step: the tag says so
  const mk = rowMakers(`B${b.batch} (1 layer, naive f32)`);
  const gemmAlone = b.p.gemms.map((_, i) => b.dispatch(i, b.gemmItems(i), 0));
  const attentionAlone = b.dispatch(null, 0, b.attentionItems());
  const upload = (bytes: number) => {
    const dst = b.p.empty(bytes);
    return { dst, src: new Uint8Array(bytes) };
  };

  const tGemm = await time([gemmAlone]);
  emit(mk.alone('gemm chain alone (QKV, O, gate-up, down)', tGemm));
  const tAttn = await time([[attentionAlone]]);
  emit(mk.alone('decode attention alone', tAttn));
  const metaBytes = b.meta.byteLength + 12 * b.batch;
  const m = upload(metaBytes);
  emit(mk.alone(`upload ${metaBytes} B (step metadata) alone`, await timeUploadOnly(device, m.dst, m.src)));
  const big = upload(s.uploadBytes);
  const tUpload = await timeUploadOnly(device, big.dst, big.src);
  emit(mk.alone(`upload ${s.uploadBytes} B alone`, tUpload));
  emit(mk.together('gemm chain + attention, one pass', await time([[...gemmAlone, attentionAlone]]), [tGemm, tAttn]));
  const tGemmUpload = await time([gemmAlone], () => device.queue.writeBuffer(big.dst, 0, big.src));
  emit(mk.together(`gemm chain + upload ${s.uploadBytes} B`, tGemmUpload, [tGemm, tUpload]));

  // attention's speed on part of the grid (where it saturates bandwidth), and a stage's fixed cost
  const attentionAtShare: [number, number][] = [];
  for (const f of [1 / 8, 1 / 4, 1 / 2])
    attentionAtShare.push([f, await time([[b.dispatch(null, 0, Math.max(1, Math.round(b.attentionItems() * f)))]])]);
  const stageMs = await time([[b.emptyDispatch()]]);
  emit(mk.alone("empty dispatch (a stage's fixed cost)", stageMs));

  // fused: the gate-up GEMM and the attention share one dispatch; the shares are fractions of a
  // grid as large as the two ops' work items together (both loop when given fewer)
  const tGateUp = await time([[gemmAlone[GATE_UP]!]]);
  const shares = [...FUSED_SHARES, tGateUp / (tGateUp + tAttn)];
  for (const [i, share] of shares.entries()) {
    const chain = gemmAlone.map((g, gi) => (gi === GATE_UP ? b.fused(share) : g));
    const why = i === shares.length - 1 ? ' (by alone times)' : '';
    emit(
      mk.together(`gemm chain with gate-up fused to attention, share ${share.toFixed(2)}${why}`, await time([chain]), [
        tGemm,
        tAttn,
      ]),
    );
  }

  const layer = nanoLayerSchedules(b);
  const plain = await time([layer.plain]);
  emit(mk.alone('layer (QKV, attention, O, gate-up, down; dependent), plain', plain));
  emit(mk.versusPlain('layer, 2 nano-batches back to back', await time([layer.backToBack]), plain));
  emit(mk.versusPlain('layer, 2 nano-batches pipelined, separate dispatches', await time([layer.pipelined]), plain));
  const fusedLayer = await time([layer.pipelinedFused]);
  emit(mk.versusPlain('layer, 2 nano-batches pipelined, attention fused to the next GEMM', fusedLayer, plain));
  return { gemmMs: tGemm, attentionMs: tAttn, attentionAtShare, stageMs };
}
