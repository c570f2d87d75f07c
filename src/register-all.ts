/**
 * The composition root: importing this module registers every op and kernel with the registries
 * that the backends read (`src/ops/registry.ts`, `src/backends/webgpu/kernel-registry.ts`), and every
 * model family with `src/models/registry.ts`. Registries live
 * low and their contributors live higher, so the contributors are gathered here, above all layers.
 *
 * Import it once, first, in every entry point that builds a backend: the public index
 * (`src/index.ts`), the CLI (`src/cli/main.ts`), benchmarks, and the test setup
 * (`test/register-all.setup.ts`). A new feature module adds its `register…()` call below.
 */
import { registerAttention } from './attention/register.js';
import { registerCoreGpuKernels } from './kernels/index.js';
import { registerBert } from './models/bert/register.js';
import { registerLlama } from './models/llama/register.js';
import { registerSparse } from './sparse/register.js';

// The core library first: for an op with kernels in both, registration order is preference order.
registerCoreGpuKernels();
registerAttention();
registerSparse();

// Model families: `openModel` / `loadRunner` hand a checkpoint to the first one that claims it.
registerLlama();
registerBert();
