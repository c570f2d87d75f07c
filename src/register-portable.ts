/**
 * The part of the composition root (`register-all.ts`) that runs in every runtime: the core kernels,
 * the feature modules and the model families whose loading needs no Node module. The browser entry
 * (`browser.ts`) imports this; `register-all.ts` imports it and adds the rest.
 */
import { registerAttention } from './attention/register.js';
import { registerCoreGpuKernels } from './kernels/index.js';
import { registerGnn } from './models/gnn/register.js';
import { registerLlama } from './models/llama/register.js';
import { registerLongctx } from './longctx/register.js';
import { registerLora } from './lora/register.js';
import { registerQuant } from './quant/register.js';
import { registerRag } from './rag/register.js';
import { registerSparse } from './sparse/register.js';

// The core library first: for an op with kernels in both, registration order is preference order.
registerCoreGpuKernels();
registerAttention();
registerSparse();
registerLora();
registerQuant();
registerRag();
registerLongctx();

// Model families: `openModel` / `loadRunner` hand a checkpoint to the first one that claims it.
registerLlama();
registerGnn();
