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
import './register-portable.js';
import { registerBert } from './models/bert/register.js';

// After the portable families (register-portable.ts): BERT reads sentence-transformers side files
// through node:fs, so the browser build leaves it out.
registerBert();
