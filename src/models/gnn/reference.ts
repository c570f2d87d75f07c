/**
 * Float64 GCN, GraphSAGE (mean) and GAT written with plain loops over neighbour lists, from the
 * checkpoint tensors as stored ([in, out] weights): the oracle of the GNN tests and bench, sharing
 * nothing with the compiled path (no CSR, no normalization helpers, no graph). It follows
 * PyG's layers: GCNConv (self loops added, symmetric normalization), SAGEConv (mean over
 * neighbours without self loops, lin_l on the mean with bias, lin_r on the node), GATConv (self
 * loops added, LeakyReLU scores, softmax over each node's in-neighbours, heads concatenated or
 * averaged, then bias), with the config's activation between layers.
 */
import { type GnnConfig, gnnLayers } from './gnn-config.js';

export interface OracleGraph {
  readonly n: number;
  /** Neighbours of each node (either order, any self loops: the layers decide). */
  readonly neighbours: readonly (readonly number[])[];
  /** Dense features [n × in]. */
  readonly x: Float64Array;
}

function matmul(h: Float64Array, n: number, fin: number, w: Float32Array, fout: number, colOff = 0, wCols = fout) {
  const out = new Float64Array(n * fout);
  for (let i = 0; i < n; i++)
    for (let q = 0; q < fin; q++) {
      const v = h[i * fin + q]!;
      if (v === 0) continue;
      for (let c = 0; c < fout; c++) out[i * fout + c] += v * w[q * wCols + colOff + c]!;
    }
  return out;
}

export function oracleLogits(cfg: GnnConfig, w: ReadonlyMap<string, Float32Array>, g: OracleGraph): Float64Array {
  const W = (name: string) => w.get(name)!;
  const n = g.n;
  const others = g.neighbours.map((ns, i) => [...new Set(ns)].filter((j) => j !== i));
  const withSelf = others.map((ns, i) => [...ns, i]);
  let h = g.x;
  gnnLayers(cfg).forEach(({ fin, fout, heads, concat, last }, l) => {
    const p = `convs.${l}.`;
    let width = fout;
    let out: Float64Array;
    if (cfg.arch === 'gcn') {
      const xw = matmul(h, n, fin, W(`${p}weight`), fout);
      out = new Float64Array(n * fout);
      for (let i = 0; i < n; i++) {
        for (const j of withSelf[i]!) {
          const norm = 1 / Math.sqrt(withSelf[i]!.length * withSelf[j]!.length);
          for (let c = 0; c < fout; c++) out[i * fout + c] += norm * xw[j * fout + c]!;
        }
        for (let c = 0; c < fout; c++) out[i * fout + c] += W(`${p}bias`)[c]!;
      }
    } else if (cfg.arch === 'sage') {
      const mean = new Float64Array(n * fin);
      for (let i = 0; i < n; i++)
        for (const j of others[i]!)
          for (let q = 0; q < fin; q++) mean[i * fin + q] += h[j * fin + q]! / others[i]!.length;
      const a = matmul(mean, n, fin, W(`${p}lin_l.weight`), fout);
      const r = matmul(h, n, fin, W(`${p}lin_r.weight`), fout);
      out = new Float64Array(n * fout);
      for (let i = 0; i < n; i++)
        for (let c = 0; c < fout; c++)
          out[i * fout + c] = a[i * fout + c]! + W(`${p}lin_l.bias`)[c]! + r[i * fout + c]!;
    } else {
      width = concat ? heads * fout : fout;
      out = new Float64Array(n * width);
      for (let k = 0; k < heads; k++) {
        const z = matmul(h, n, fin, W(`${p}weight`), fout, k * fout, heads * fout);
        const sSrc = new Float64Array(n);
        const sDst = new Float64Array(n);
        for (let i = 0; i < n; i++)
          for (let c = 0; c < fout; c++) {
            sSrc[i] += W(`${p}att_src`)[k * fout + c]! * z[i * fout + c]!;
            sDst[i] += W(`${p}att_dst`)[k * fout + c]! * z[i * fout + c]!;
          }
        for (let i = 0; i < n; i++) {
          const ns = withSelf[i]!;
          const e = ns.map((j) => {
            const s = sDst[i]! + sSrc[j]!;
            return s > 0 ? s : cfg.negativeSlope * s;
          });
          const mx = Math.max(...e);
          const ex = e.map((v) => Math.exp(v - mx));
          const sum = ex.reduce((a, b) => a + b, 0);
          ns.forEach((j, t) => {
            const alpha = ex[t]! / sum;
            for (let c = 0; c < fout; c++) {
              const at = concat ? i * width + k * fout + c : i * width + c;
              out[at] += (alpha * z[j * fout + c]!) / (concat ? 1 : heads);
            }
          });
        }
      }
      for (let i = 0; i < n; i++) for (let c = 0; c < width; c++) out[i * width + c] += W(`${p}bias`)[c]!;
    }
    if (!last) out = out.map((v) => (cfg.activation === 'relu' ? Math.max(v, 0) : v > 0 ? v : Math.expm1(v)));
    h = out;
  });
  return h;
}
