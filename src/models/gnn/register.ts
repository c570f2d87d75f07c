import { registerModelFamily } from '../registry.js';
import { gnnFamily } from './gnn-family.js';

/** Makes `openModel` accept GNN checkpoints (config.json model_type "gnn"). */
export function registerGnn(): void {
  registerModelFamily(gnnFamily);
}
