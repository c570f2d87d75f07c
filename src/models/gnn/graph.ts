/**
 * GCN, GraphSAGE (mean) and GAT inference as one IR function each, with the sparse ops as kernel
 * calls of the graph: `spmm_csr` (aggregation, and the first layer's projection of the sparse
 * node features), `sddmm_csr` (GAT's edge scores) and `edge_softmax_csr`.
 *
 * Symbolic sizes: `r` = nodes + 1 (the length of both CSR row pointers), `e` edges of the
 * aggregation matrix, `z` nonzeros of the feature matrix; one compiled function serves every graph
 * within the upper bounds.
 *
 * - GCN layer: Â·(H·W) + b, Â = D^-1/2 (A + I) D^-1/2 given as the aggregation values.
 * - SAGE layer: M·(H·W_l) + b_l + H·W_r, M = D^-1 A (the mean over neighbours, no self loops);
 *   projecting before aggregating is the same linear map as PyG's aggregate-then-project.
 * - GAT head: h = H·W_h; score(i→j) = LeakyReLU(a_dst·h_i + a_src·h_j) as an SDDMM of
 *   [a_dst·h_i, 1] with [1, a_src·h_j] (d = 2); α = edge softmax over each row; out = α·h.
 *   Heads concatenate (hidden layers) or average (the last); then the bias.
 */
import { FunctionBuilder } from '../../ir/builder.js';
import type { Expr, Func, IRModule, Var } from '../../ir/graph.js';
import { moduleOf } from '../../ir/graph.js';
import { callKernel, op } from '../../ir/op.js';
import { sym } from '../../ir/sym/sym.js';
import { tensorType } from '../../ir/types.js';
import type { SddmmSchedule, SpmmSchedule } from '../../sparse/schedule.js';
import { type GnnConfig, type GnnLayer, gnnLayers } from './gnn-config.js';
import { gnnGraphWeightShapes } from './graph-weights.js';

export interface GnnGraphOptions {
  readonly maxNodes: number;
  readonly maxEdges: number;
  readonly maxFeatureNonzeros: number;
}

/** ELU through min/max: max(x, 0) + exp(min(x, 0)) − 1 (exact for both signs). */
export const ELU_EXPR = 'max(x0, 0.0) + exp(min(x0, 0.0)) - 1.0';
export const leakyReluExpr = (slope: number) => `max(x0, ${slope} * x0)`;

const paramName = (weight: string) => weight.replace(/[^A-Za-z0-9_]/g, '_');

export function spmmScheduleFor(f: number): SpmmSchedule {
  return f >= 32
    ? { threadsPerRow: 8, rowsPerWorkgroup: 8, vec4: f % 4 === 0 }
    : { threadsPerRow: 4, rowsPerWorkgroup: 16, vec4: false };
}
const SDDMM_D2: SddmmSchedule = { lanes: 1, nnzPerWorkgroup: 64, vec4: false };

/** The order of the function's parameters after the graph inputs (what the runner passes). */
export const gnnGraphInputs = (cfg: GnnConfig) =>
  cfg.arch === 'gat'
    ? ['agg_indptr', 'agg_indices', 'feat_indptr', 'feat_indices', 'feat_values']
    : ['agg_indptr', 'agg_indices', 'agg_values', 'feat_indptr', 'feat_indices', 'feat_values'];

/** The function under construction, its parameters, and the sparse and dense steps every layer uses. */
interface GraphBuilder {
  readonly b: FunctionBuilder;
  /** Node count: the row pointers' length minus one. */
  readonly n: ReturnType<typeof sym>;
  readonly param: (name: string) => Var;
  readonly spmm: (indptr: Expr, indices: Expr, values: Expr, x: Expr, f: number, name: string) => Var;
  readonly elementwise: (
    x: Expr,
    expr: string,
    shape: (ReturnType<typeof sym> | number | string)[],
    name: string,
  ) => Var;
  /** H·W: the first layer multiplies the sparse features (h null), later ones dense activations. */
  readonly project: (h: Var | null, w: Expr, fout: number, name: string) => Var;
}

function graphBuilder(cfg: GnnConfig, o: GnnGraphOptions): GraphBuilder {
  const b = new FunctionBuilder('forward', {
    upper: { r: o.maxNodes + 1, e: o.maxEdges, z: o.maxFeatureNonzeros },
  });
  const n = sym('r').sub(1);
  const p = new Map<string, Var>();
  const typeOf: Record<string, ReturnType<typeof tensorType>> = {
    agg_indptr: tensorType('i32', ['r']),
    agg_indices: tensorType('i32', ['e']),
    agg_values: tensorType('f32', ['e']),
    feat_indptr: tensorType('i32', ['r']),
    feat_indices: tensorType('i32', ['z']),
    feat_values: tensorType('f32', ['z']),
  };
  for (const name of gnnGraphInputs(cfg)) p.set(name, b.param(name, typeOf[name]!));
  for (const [name, shape] of gnnGraphWeightShapes(cfg))
    p.set(name, b.param(paramName(name), tensorType('f32', shape)));
  const param = (name: string) =>
    p.get(name) ??
    (() => {
      throw new Error(`gnn graph: no parameter '${name}'`);
    })();
  const spmm = (indptr: Expr, indices: Expr, values: Expr, x: Expr, f: number, name: string) =>
    b.emitCall(
      callKernel('spmm_csr', [indptr, indices, values, x], { schedule: spmmScheduleFor(f) }),
      tensorType('f32', [n, f]),
      name,
    );
  const elementwise = (x: Expr, expr: string, shape: (ReturnType<typeof sym> | number | string)[], name: string) =>
    b.emitCall(callKernel('elementwise', [x], { expr }), tensorType('f32', shape), name);
  const project = (h: Var | null, w: Expr, fout: number, name: string): Var =>
    h === null
      ? spmm(param('feat_indptr'), param('feat_indices'), param('feat_values'), w, fout, name)
      : b.emit(op.matmul(h, w), name);
  return { b, n, param, spmm, elementwise, project };
}

/** Aggregation over the graph's edges with the given per-edge values. */
const aggregate = (g: GraphBuilder, values: Expr, x: Expr, f: number, name: string) =>
  g.spmm(g.param('agg_indptr'), g.param('agg_indices'), values, x, f, name);

function gcnLayer(g: GraphBuilder, h: Var | null, layer: GnnLayer, l: number): Var {
  const w = (s: string) => g.param(`convs.${l}.${s}`);
  const xw = g.project(h, w('weight'), layer.fout, `xw${l}`);
  const agg = aggregate(g, g.param('agg_values'), xw, layer.fout, `agg${l}`);
  return g.b.emit(op.add(agg, w('bias')), `out${l}`);
}

function sageLayer(g: GraphBuilder, h: Var | null, layer: GnnLayer, l: number): Var {
  const w = (s: string) => g.param(`convs.${l}.${s}`);
  const xl = g.project(h, w('lin_l.weight'), layer.fout, `xl${l}`);
  const xr = g.project(h, w('lin_r.weight'), layer.fout, `xr${l}`);
  const agg = aggregate(g, g.param('agg_values'), xl, layer.fout, `agg${l}`);
  return g.b.emit(op.add(op.add(agg, w('lin_l.bias')), xr), `out${l}`);
}

/** One GAT head: projection, edge scores by SDDMM, LeakyReLU, edge softmax, weighted aggregation. */
function gatHead(g: GraphBuilder, cfg: GnnConfig, h: Var | null, fout: number, l: number, hd: number): Var {
  const { b, param } = g;
  const hw = (s: string) => param(`convs.${l}.h${hd}.${s}`);
  const x = g.project(h, hw('weight'), fout, `hw${l}_${hd}`);
  const rowSide = b.emit(op.add(op.matmul(x, hw('dst_proj')), param('unit_second')), `sd${l}_${hd}`);
  const colSide = b.emit(op.add(op.matmul(x, hw('src_proj')), param('unit_first')), `ss${l}_${hd}`);
  const scores = b.emitCall(
    callKernel('sddmm_csr', [param('agg_indptr'), param('agg_indices'), rowSide, colSide], { schedule: SDDMM_D2 }),
    tensorType('f32', ['e']),
    `score${l}_${hd}`,
  );
  const leaky = g.elementwise(scores, leakyReluExpr(cfg.negativeSlope), ['e'], `leaky${l}_${hd}`);
  const alpha = b.emitCall(
    callKernel('edge_softmax_csr', [param('agg_indptr'), leaky]),
    tensorType('f32', ['e']),
    `alpha${l}_${hd}`,
  );
  return aggregate(g, alpha, x, fout, `head${l}_${hd}`);
}

/** GAT layer: heads concatenated (hidden layers) or averaged (the last), then the bias. */
function gatLayer(g: GraphBuilder, cfg: GnnConfig, h: Var | null, layer: GnnLayer, l: number): Var {
  const { fout, heads, concat } = layer;
  const perHead: Var[] = [];
  for (let hd = 0; hd < heads; hd++) perHead.push(gatHead(g, cfg, h, fout, l, hd));
  let merged: Expr;
  if (heads === 1) merged = perHead[0]!;
  else if (concat) merged = op.concat(perHead, 1);
  else
    merged = op.scale(
      perHead.slice(1).reduce<Expr>((a, x) => op.add(a, x), perHead[0]!),
      1 / heads,
    );
  return g.b.emit(op.add(merged, g.param(`convs.${l}.bias`)), `out${l}`);
}

/** Builds `forward(graph inputs…, weights…) → f32[nodes, classes]` (the logits). */
export function gnnForwardFunc(cfg: GnnConfig, o: GnnGraphOptions): Func {
  const g = graphBuilder(cfg, o);
  let h: Var | null = null;
  gnnLayers(cfg).forEach((layer, l) => {
    let out =
      cfg.arch === 'gcn'
        ? gcnLayer(g, h, layer, l)
        : cfg.arch === 'sage'
          ? sageLayer(g, h, layer, l)
          : gatLayer(g, cfg, h, layer, l);
    if (!layer.last) {
      const width = layer.concat ? layer.heads * layer.fout : layer.fout;
      out =
        cfg.activation === 'relu'
          ? g.b.emit(op.relu(out), `act${l}`)
          : g.elementwise(out, ELU_EXPR, [g.n, width], `act${l}`);
    }
    h = out;
  });
  return g.b.finish(h!);
}

export function gnnModule(cfg: GnnConfig, o: GnnGraphOptions): IRModule {
  return moduleOf([gnnForwardFunc(cfg, o)]);
}
