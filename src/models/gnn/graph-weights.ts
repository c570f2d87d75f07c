/**
 * The tensors the compiled graph takes, derived once at load from the checkpoint's: GCN and
 * GraphSAGE use the checkpoint tensors as they are. GAT's are split per head so each head is its
 * own projection and SDDMM: `convs.l.h<k>.weight` [in, out] (columns k·out… of `convs.l.weight`),
 * `convs.l.h<k>.dst_proj` / `src_proj` [out, 2] (att_dst in column 0 / att_src in column 1), and
 * the constants `unit_first` = [1, 0], `unit_second` = [0, 1] that complete the d = 2 SDDMM operands.
 */
import { type GnnConfig, gnnLayers } from './gnn-config.js';
import { gnnTensorShapes } from './gnn-tensors.js';

export function gnnGraphWeightShapes(cfg: GnnConfig): Map<string, number[]> {
  if (cfg.arch !== 'gat') return gnnTensorShapes(cfg);
  const m = new Map<string, number[]>();
  gnnLayers(cfg).forEach(({ fin, fout, heads, concat }, l) => {
    for (let h = 0; h < heads; h++) {
      m.set(`convs.${l}.h${h}.weight`, [fin, fout]);
      m.set(`convs.${l}.h${h}.dst_proj`, [fout, 2]);
      m.set(`convs.${l}.h${h}.src_proj`, [fout, 2]);
    }
    m.set(`convs.${l}.bias`, [concat ? heads * fout : fout]);
  });
  m.set('unit_first', [2]);
  m.set('unit_second', [2]);
  return m;
}

/** The graph's weights in `gnnGraphWeightShapes` order, from the checkpoint tensors (`get`). */
export function deriveGraphWeights(cfg: GnnConfig, get: (name: string) => Float32Array): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  if (cfg.arch !== 'gat') {
    for (const name of gnnTensorShapes(cfg).keys()) out.set(name, get(name));
    return out;
  }
  gnnLayers(cfg).forEach(({ fin, fout, heads }, l) => {
    const w = get(`convs.${l}.weight`);
    const src = get(`convs.${l}.att_src`);
    const dst = get(`convs.${l}.att_dst`);
    for (let h = 0; h < heads; h++) {
      const wh = new Float32Array(fin * fout);
      for (let i = 0; i < fin; i++)
        for (let c = 0; c < fout; c++) wh[i * fout + c] = w[i * heads * fout + h * fout + c]!;
      const dp = new Float32Array(fout * 2);
      const sp = new Float32Array(fout * 2);
      for (let c = 0; c < fout; c++) {
        dp[c * 2] = dst[h * fout + c]!;
        sp[c * 2 + 1] = src[h * fout + c]!;
      }
      out.set(`convs.${l}.h${h}.weight`, wh);
      out.set(`convs.${l}.h${h}.dst_proj`, dp);
      out.set(`convs.${l}.h${h}.src_proj`, sp);
    }
    out.set(`convs.${l}.bias`, get(`convs.${l}.bias`));
  });
  out.set('unit_first', Float32Array.of(1, 0));
  out.set('unit_second', Float32Array.of(0, 1));
  return out;
}
