/**
 * Tessera's public API.
 *
 * @example
 * ```ts
 * import { openBackend } from 'tessera';
 * const backend = await openBackend();            // WebGPU, or the CPU backend with one notice
 * const x = backend.alloc({ dtype: 'f32', shape: [4] });
 * backend.write(x, new Float32Array([1, 2, 3, 4]));
 * backend.run('elementwise', { expr: 'silu(x0)' }, [x], [x]);
 * console.log(await backend.read(x));
 * ```
 */
import './register-all.js';

export type { Attrs, Backend, Tensor, TensorDesc } from './backends/backend.js';
export { UnsupportedOpError } from './backends/backend.js';
export { openBackend, type OpenBackendOptions } from './backends/open.js';
export { CpuBackend } from './backends/cpu/cpu-backend.js';
export { WebGpuBackend, type WebGpuBackendOptions } from './backends/webgpu/webgpu-backend.js';
export { openGpu, describeCaps, type GpuContext } from './backends/webgpu/device.js';
export type { Capabilities, SubgroupMatrixConfig } from './backends/webgpu/capabilities.js';
export * from './backends/webgpu/errors.js';
export { DispatchStream } from './backends/webgpu/dispatch-stream.js';
export * from './tensor/dtype.js';
export { OPS, getOp } from './ops/registry.js';
export type { OpSpec, OpCase } from './ops/op-spec.js';
export { runBackendConformance, runCase, type CaseResult } from './testing/conformance.js';
export { parseExpr, evalExpr, type Expr } from './ops/expr.js';

// models, checkpoints, tokenizers
export {
  loadModel,
  loadRunner,
  builtinModelPath,
  TesseraModel,
  type LoadModelOptions,
  type GenerateOptions,
} from './models/load-model.js';
// the OpenAI-style client on this thread, without HTTP (the same request handling as the server)
export { chatClient, type ChatClient } from './chat-client.js';
export { LlamaRunner, type LlamaRunnerOptions } from './models/llama/llama-runner.js';
export { openLlamaModel, llamaFamily } from './models/llama/llama-family.js';
export { openModel } from './models/open-model.js';
export { registerModelFamily, modelFamilies } from './models/registry.js';
export type { ModelFamily, OpenedModel, FamilyRunner, RunnerOptions, CheckpointIdentity } from './models/family.js';
export {
  openCheckpoint,
  type Checkpoint,
  Tokenizer,
  loadTokenizer,
  CheckpointError,
  UnsupportedModelError,
} from './io/index.js';

// serving
export { Engine, type EngineOptions } from './engine/engine.js';
export type { ModelRunner, ForwardBatch, DeviceSampleRow } from './engine/model-runner.js';
export { createApp } from './server/app.js';
export { startServer } from './server/node-server.js';

// compiler
export { compile, compileModule } from './compiler/compile.js';
export { VirtualMachine } from './compiler/vm.js';
export { FunctionBuilder } from './ir/builder.js';
export { op } from './ir/op.js';
