/**
 * The GNN family: node-classification models (GCN, GraphSAGE, GAT) in our checkpoint format
 * (config.json with `model_type` "gnn", `gnn-config.ts`; model.safetensors, `gnn-tensors.ts`).
 * They take graphs, not text: `loadRunner` refuses them and `GnnModel.load` runs them.
 */
import type { Checkpoint } from '../../io/open-checkpoint.js';
import type { ModelFamily, OpenedModel } from '../family.js';
import { GNN_MODEL_TYPE, type GnnConfig, parseGnnConfig } from './gnn-config.js';
import { checkGnnTensors } from './gnn-tensors.js';

export const gnnFamily: ModelFamily<GnnConfig> = {
  name: 'gnn',
  accepts: `config.json model_type '${GNN_MODEL_TYPE}' (graph neural networks: gcn, sage, gat)`,

  matches: (id) => id.format === 'safetensors' && id.modelType === GNN_MODEL_TYPE,

  open(c: Checkpoint): OpenedModel<GnnConfig> {
    if (c.format !== 'safetensors') throw new Error(`${c.path}: GNN checkpoints are safetensors folders`);
    const config = parseGnnConfig(c.config, c.configFile);
    const unusedTensors = checkGnnTensors(config, c.weights.tensors, c.weights.path);
    return {
      family: 'gnn',
      format: c.format,
      path: c.path,
      tokenizer: null,
      config,
      weights: c.weights,
      unusedTensors,
    };
  },

  loadRunner: async (model) => {
    throw new Error(
      `${model.path}: a GNN classifies graph nodes, not text; load it with GnnModel.load (src/models/gnn)`,
    );
  },
};
