/**
 * The GNN checkpoint config (config.json beside model.safetensors), a format of our own:
 *
 * ```json
 * { "model_type": "gnn", "architecture": "gcn" | "sage" | "gat",
 *   "in_features": 1433, "hidden_features": [16], "num_classes": 7,
 *   "heads": [8, 1], "negative_slope": 0.2, "activation": "relu" | "elu" }
 * ```
 *
 * Layers map `in_features` through each of `hidden_features` to `num_classes`. GAT layers have
 * `heads[l]` heads; every layer but the last concatenates its heads (output heads × width), the
 * last averages them. `activation` runs between layers (PyG's examples: ReLU for GCN and
 * GraphSAGE, ELU for GAT); `heads` and `negative_slope` (LeakyReLU of GAT's scores) only for GAT.
 */
export type GnnArch = 'gcn' | 'sage' | 'gat';
export type GnnActivation = 'relu' | 'elu';

export interface GnnConfig {
  readonly arch: GnnArch;
  readonly inFeatures: number;
  readonly hidden: readonly number[];
  readonly numClasses: number;
  /** Per layer (all 1 unless GAT). */
  readonly heads: readonly number[];
  readonly negativeSlope: number;
  readonly activation: GnnActivation;
}

export const GNN_MODEL_TYPE = 'gnn';

export class GnnConfigError extends Error {
  constructor(file: string, msg: string) {
    super(`${file}: ${msg}`);
    this.name = 'GnnConfigError';
  }
}

const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;

export function parseGnnConfig(raw: unknown, file = 'config.json'): GnnConfig {
  const bad = (msg: string): never => {
    throw new GnnConfigError(file, msg);
  };
  if (!raw || typeof raw !== 'object') bad('not a JSON object');
  const c = raw as Record<string, unknown>;
  if (c.model_type !== GNN_MODEL_TYPE) bad(`model_type is ${JSON.stringify(c.model_type)}, expected "gnn"`);
  const arch = c.architecture;
  if (arch !== 'gcn' && arch !== 'sage' && arch !== 'gat')
    bad(`architecture must be "gcn", "sage" or "gat", got ${JSON.stringify(arch)}`);
  if (!posInt(c.in_features)) bad('in_features must be a positive integer');
  if (!posInt(c.num_classes)) bad('num_classes must be a positive integer');
  const hidden = c.hidden_features ?? [];
  if (!Array.isArray(hidden) || !hidden.every(posInt)) bad('hidden_features must be a list of positive integers');
  const layers = (hidden as number[]).length + 1;
  const heads = arch === 'gat' ? (c.heads ?? Array(layers).fill(1)) : Array(layers).fill(1);
  if (!Array.isArray(heads) || heads.length !== layers || !heads.every(posInt))
    bad(`heads must list one positive integer per layer (${layers})`);
  const slope = c.negative_slope ?? 0.2;
  if (typeof slope !== 'number' || !(slope >= 0 && slope < 1)) bad('negative_slope must be a number in [0, 1)');
  const activation = c.activation ?? (arch === 'gat' ? 'elu' : 'relu');
  if (activation !== 'relu' && activation !== 'elu')
    bad(`activation must be "relu" or "elu", got ${JSON.stringify(activation)}`);
  return {
    arch: arch as GnnArch,
    inFeatures: c.in_features as number,
    hidden: hidden as number[],
    numClasses: c.num_classes as number,
    heads: heads as number[],
    negativeSlope: slope as number,
    activation: activation as GnnActivation,
  };
}

export function gnnConfigJson(cfg: GnnConfig): Record<string, unknown> {
  return {
    model_type: GNN_MODEL_TYPE,
    architecture: cfg.arch,
    in_features: cfg.inFeatures,
    hidden_features: [...cfg.hidden],
    num_classes: cfg.numClasses,
    heads: [...cfg.heads],
    negative_slope: cfg.negativeSlope,
    activation: cfg.activation,
  };
}

/** One layer's widths: input, output per head, heads, and whether the heads concatenate. */
export interface GnnLayer {
  readonly fin: number;
  readonly fout: number;
  readonly heads: number;
  readonly concat: boolean;
  readonly last: boolean;
}

export function gnnLayers(cfg: GnnConfig): GnnLayer[] {
  const outs = [...cfg.hidden, cfg.numClasses];
  let fin = cfg.inFeatures;
  return outs.map((fout, l) => {
    const last = l === outs.length - 1;
    const heads = cfg.heads[l]!;
    const layer = { fin, fout, heads, concat: !last, last };
    fin = last ? fout : heads * fout;
    return layer;
  });
}
