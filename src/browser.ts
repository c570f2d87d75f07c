/**
 * Tessera in a browser: the entry point of the `tessera/browser` bundle (scripts/build-browser.mjs).
 * The same engine, compiler and kernels as in Node; files come from URLs (ranged fetches) or
 * user-picked files, the GPU from `navigator.gpu`, CPU threads from Web Workers.
 *
 * @example
 * ```ts
 * import { loadModel, urlFolder } from 'tessera/browser';
 * const model = await loadModel(urlFolder('/models/builtin/', { onProgress: (p) => bar.update(p) }), {
 *   backend: await openBackend({ prefer: 'webgpu' }),
 * });
 * for await (const text of model.generate('The jury said', { maxTokens: 40, temperature: 0 })) out.append(text);
 * ```
 */
import './register-portable.js';
import type { Backend } from './backends/backend.js';
import { loadKernelModule } from './backends/cpu/kernel-module.js';
import { backendChoice, openBackend as openBackendSync, type OpenBackendOptions } from './backends/open.js';

export type { Backend, Tensor, TensorDesc } from './backends/backend.js';
export type { OpenBackendOptions } from './backends/open.js';
export { WebGpuBackend } from './backends/webgpu/webgpu-backend.js';
export { CpuBackend } from './backends/cpu/cpu-backend.js';
export { loadKernelModule };

/**
 * `openBackend` with the CPU kernels fetched first where the CPU backend may be chosen: a browser
 * compiles WebAssembly asynchronously, and the backend is built synchronously. The CPU backend's
 * threads need a cross-origin isolated page (COOP/COEP headers) and, since a waiting thread blocks,
 * a worker rather than the page's main thread.
 */
export async function openBackend(opts: OpenBackendOptions = {}): Promise<Backend> {
  const choice = backendChoice(opts.prefer);
  if (choice === 'cpu') await loadKernelModule();
  // auto: a failed fetch leaves WebGPU as the only choice, and openBackend says so if that fails too
  else if (choice === 'auto') await loadKernelModule().catch(() => undefined);
  return openBackendSync(opts);
}
export { openGpu, describeCaps } from './backends/webgpu/device.js';
export * from './backends/webgpu/errors.js';
export {
  loadModel,
  loadRunner,
  builtinModelPath,
  TesseraModel,
  type LoadModelOptions,
  type GenerateOptions,
} from './models/load-model.js';
export { openModel } from './models/open-model.js';
export { openCheckpoint, type Checkpoint } from './io/open-checkpoint.js';
export { Tokenizer, loadTokenizer } from './io/tokenizer.js';
export { CheckpointError, UnsupportedModelError } from './io/errors.js';
export { Engine, type EngineOptions } from './engine/engine.js';
export {
  blobFolder,
  blobSource,
  opfsAvailable,
  opfsCachedFolder,
  type CacheEvent,
  type OpfsCacheOptions,
  urlFolder,
  urlSource,
  platform,
  type ByteProgress,
  type ByteSource,
  type Folder,
  type WebFileOptions,
} from './platform/index.js';
export {
  createWorkerEngine,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionCreateParams,
  type ChatCompletionStream,
  type WorkerEngine,
  type WorkerEngineOptions,
} from './browser-client.js';
export { hostWorkerEngine } from './browser-worker-host.js';
export { chatClient, type ChatClient } from './chat-client.js';
export { ChatCompletionError, CrossOriginIsolationError, WorkerEngineError } from './browser-errors.js';
