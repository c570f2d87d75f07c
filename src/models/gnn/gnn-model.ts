/**
 * Runs a GNN checkpoint on a backend: the graph function compiled once for every graph within the
 * size bounds (`graph.ts`), the weights resident, and per call the graph's CSR arrays uploaded.
 * Node classification: `logits` returns [nodes, classes] row-major, `predict` the argmax per node.
 *
 * @example
 * const model = await GnnModel.load(await openModel('checkpoints/gcn-cora'), { backend, maxNodes: 4096, … });
 * const classes = await model.predict(gnnInputFromPlanetoid(await readPlanetoid('data/planetoid', 'cora')));
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { compile } from '../../compiler/compile.js';
import { VirtualMachine } from '../../compiler/vm.js';
import type { TensorSource } from '../../io/tensor-source.js';
import { toFloat64 } from '../../tensor/dtype.js';
import type { Csr } from '../../sparse/formats.js';
import {
  type GraphCsr,
  gcnNormalized,
  meanNormalized,
  withSelfLoops,
  withoutSelfLoops,
} from '../../sparse/graph-norm.js';
import type { GnnConfig } from './gnn-config.js';
import { deriveGraphWeights, gnnGraphWeightShapes } from './graph-weights.js';
import { gnnGraphInputs, gnnModule } from './graph.js';

/** A graph to classify: binary adjacency (any self loops; each layer adds or drops them) and sparse features. */
export interface GnnInput {
  readonly adjacency: GraphCsr;
  /** [nodes × in_features]. */
  readonly features: Csr;
}

/** A graph's arrays resident on the model's backend (`GnnModel.upload`). */
export interface ResidentGraph {
  readonly nodes: number;
  readonly tensors: readonly Tensor[];
  free(): void;
}

export interface GnnModelOptions {
  readonly backend: Backend;
  readonly maxNodes: number;
  readonly maxEdges: number;
  readonly maxFeatureNonzeros: number;
}

/** The aggregation matrix each architecture multiplies by (PyG's defaults). */
export function aggregationFor(cfg: GnnConfig, adjacency: GraphCsr): Csr {
  switch (cfg.arch) {
    case 'gcn':
      return gcnNormalized(withSelfLoops(adjacency));
    case 'sage':
      return meanNormalized(withoutSelfLoops(adjacency));
    case 'gat': {
      const g = withSelfLoops(adjacency);
      return {
        kind: 'csr',
        m: g.n,
        k: g.n,
        indptr: g.indptr,
        indices: g.indices,
        vals: new Float32Array(g.indices.length),
      };
    }
  }
}

export class GnnModel {
  private readonly vm: VirtualMachine;

  private constructor(
    readonly backend: Backend,
    readonly config: GnnConfig,
    private readonly weights: Tensor[],
    readonly limits: Omit<GnnModelOptions, 'backend'>,
  ) {
    this.vm = new VirtualMachine(compile(gnnModule(config, limits)), backend);
  }

  static async load(
    model: { readonly config: GnnConfig; readonly weights: TensorSource },
    o: GnnModelOptions,
  ): Promise<GnnModel> {
    const host = new Map<string, Float32Array>();
    for (const [name, info] of model.weights.tensors) {
      const data = await model.weights.read(name);
      host.set(name, info.dtype === 'f32' ? (data as Float32Array) : Float32Array.from(toFloat64(info.dtype, data)));
    }
    const derived = deriveGraphWeights(model.config, (name) => {
      const t = host.get(name);
      if (!t) throw new Error(`gnn: checkpoint tensor '${name}' is missing`);
      return t;
    });
    const weights: Tensor[] = [];
    try {
      for (const [name, shape] of gnnGraphWeightShapes(model.config)) {
        const t = o.backend.alloc({ dtype: 'f32', shape }, name, 'weights');
        weights.push(t);
        o.backend.write(t, derived.get(name)!);
      }
    } catch (e) {
      for (const t of weights) o.backend.free(t);
      throw e;
    }
    const { backend: _b, ...limits } = o;
    return new GnnModel(o.backend, model.config, weights, limits);
  }

  /**
   * The graph's arrays (aggregation matrix for this architecture, features) on the backend, for
   * repeated `logitsOf` calls; `free` releases them.
   */
  upload(input: GnnInput): ResidentGraph {
    const { adjacency: adj, features: x } = input;
    const cfg = this.config;
    if (x.m !== adj.n) throw new Error(`gnn: ${x.m} feature rows for ${adj.n} nodes`);
    if (x.k !== cfg.inFeatures) throw new Error(`gnn: ${x.k} features per node, the model takes ${cfg.inFeatures}`);
    const agg = aggregationFor(cfg, adj);
    const lim = this.limits;
    if (adj.n > lim.maxNodes || agg.indices.length > lim.maxEdges || x.indices.length > lim.maxFeatureNonzeros)
      throw new Error(
        `gnn: graph of ${adj.n} nodes, ${agg.indices.length} edges, ${x.indices.length} feature nonzeros exceeds the compiled bounds (${lim.maxNodes}, ${lim.maxEdges}, ${lim.maxFeatureNonzeros})`,
      );
    const arrays: Record<string, Int32Array | Float32Array> = {
      agg_indptr: agg.indptr,
      agg_indices: agg.indices,
      agg_values: agg.vals,
      feat_indptr: x.indptr,
      feat_indices: x.indices,
      feat_values: x.vals,
    };
    const tensors: Tensor[] = [];
    try {
      for (const name of gnnGraphInputs(cfg)) {
        const data = arrays[name]!;
        const t = this.backend.alloc(
          { dtype: data instanceof Int32Array ? 'i32' : 'f32', shape: [data.length] },
          `gnn.${name}`,
          'activations',
        );
        tensors.push(t);
        this.backend.write(t, data);
      }
    } catch (e) {
      for (const t of tensors) this.backend.free(t);
      throw e;
    }
    return { nodes: adj.n, tensors, free: () => tensors.splice(0).forEach((t) => this.backend.free(t)) };
  }

  /** Logits [nodes × classes], row-major, of a graph already on the backend. */
  async logitsOf(graph: ResidentGraph): Promise<Float32Array> {
    const out = (await this.vm.run('forward', [...graph.tensors, ...this.weights])) as Tensor;
    try {
      return Float32Array.from((await this.backend.read(out)) as Float32Array);
    } finally {
      this.backend.free(out);
    }
  }

  /** Logits [nodes × classes], row-major. */
  async logits(input: GnnInput): Promise<Float32Array> {
    const graph = this.upload(input);
    try {
      return await this.logitsOf(graph);
    } finally {
      graph.free();
    }
  }

  /** The predicted class of every node (argmax of its logits; the first on a tie). */
  async predict(input: GnnInput): Promise<Int32Array> {
    return argmaxRows(await this.logits(input), this.config.numClasses);
  }

  destroy(): void {
    for (const t of this.weights) this.backend.free(t);
    this.weights.length = 0;
  }
}

export function argmaxRows(logits: ArrayLike<number>, classes: number): Int32Array {
  const rows = logits.length / classes;
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
    out[i] = best;
  }
  return out;
}
