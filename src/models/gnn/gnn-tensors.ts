/**
 * Checkpoint tensor names and shapes of the GNN family (all f32). Weights are stored [in, out],
 * the layout the graph multiplies by (PyG's `Linear.weight` transposed):
 *
 * - GCN layer l: `convs.l.weight` [in, out], `convs.l.bias` [out]
 * - GraphSAGE (mean): `convs.l.lin_l.weight` [in, out] (neighbours), `convs.l.lin_l.bias` [out],
 *   `convs.l.lin_r.weight` [in, out] (the node itself)
 * - GAT: `convs.l.weight` [in, heads·out], `convs.l.att_src` [heads, out], `convs.l.att_dst`
 *   [heads, out], `convs.l.bias` [heads·out] (concatenating layers) or [out] (the last)
 */
import type { TensorInfo } from '../../io/tensor-source.js';
import { type GnnConfig, gnnLayers } from './gnn-config.js';

export function gnnTensorShapes(cfg: GnnConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  gnnLayers(cfg).forEach(({ fin, fout, heads, concat }, l) => {
    const p = `convs.${l}.`;
    if (cfg.arch === 'gcn') {
      m.set(`${p}weight`, [fin, fout]);
      m.set(`${p}bias`, [fout]);
    } else if (cfg.arch === 'sage') {
      m.set(`${p}lin_l.weight`, [fin, fout]);
      m.set(`${p}lin_l.bias`, [fout]);
      m.set(`${p}lin_r.weight`, [fin, fout]);
    } else {
      m.set(`${p}weight`, [fin, heads * fout]);
      m.set(`${p}att_src`, [heads, fout]);
      m.set(`${p}att_dst`, [heads, fout]);
      m.set(`${p}bias`, [concat ? heads * fout : fout]);
    }
  });
  return m;
}

/** Throws on a missing tensor or a wrong shape; returns the tensors the config does not use. */
export function checkGnnTensors(cfg: GnnConfig, tensors: ReadonlyMap<string, TensorInfo>, path: string): string[] {
  const want = gnnTensorShapes(cfg);
  for (const [name, shape] of want) {
    const t = tensors.get(name);
    if (!t) throw new Error(`${path}: tensor '${name}' is missing (a ${cfg.arch} model needs [${shape}])`);
    if (t.shape.join() !== shape.join())
      throw new Error(`${path}: tensor '${name}' is [${t.shape}], the config implies [${shape}]`);
  }
  return [...tensors.keys()].filter((n) => !want.has(n));
}
