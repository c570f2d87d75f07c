/**
 * The engine's side of the worker-hosted engine: runs inside a module worker, loads the model on
 * the page's 'load' message and answers chat requests (browser-protocol.ts). The page's thread
 * never runs model code; the CPU backend's threads may block here, which a page's main thread may not.
 */
import type { Backend } from './backends/backend.js';
import { loadKernelModule } from './backends/cpu/kernel-module.js';
import { openBackend } from './backends/open.js';
import { crossOriginIsolationProblem } from './browser-errors.js';
import type { ErrorFields, FromWorker, LoadMessage, NoticeCode, ToWorker } from './browser-protocol.js';
import { GpuError, OutOfMemoryError } from './backends/webgpu/errors.js';
import { type PageChatModel, pageChatModel, runChatCompletion } from './browser-chat.js';
import type { EngineRequest } from './engine/request.js';
import { loadModel, type TesseraModel } from './models/load-model.js';
import { type Folder, opfsAvailable, opfsCachedFolder, urlFolder } from './platform/index.js';
import { ApiError, toApiError } from './server/errors.js';

interface WorkerScope {
  postMessage(message: FromWorker): void;
  addEventListener(type: 'message', listener: (e: { data: ToWorker }) => void): void;
}

function errorFields(e: unknown): ErrorFields {
  if (e instanceof ApiError)
    return {
      name: 'ChatCompletionError',
      message: e.message,
      status: e.status,
      type: e.type,
      param: e.param,
      code: e.code,
    };
  const err = e instanceof Error ? e : new Error(String(e));
  return { name: err.name, message: err.message, ...(err instanceof GpuError ? { hint: err.hint } : {}) };
}

type Notice = (code: NoticeCode, text: string) => void;

/**
 * Smaller engines to try, in order, when the default one is out of GPU memory. The KV cache is sized
 * for every sequence's full context, so fewer sequences at once is what frees memory (a phone's
 * GPU, a tab's budget); shorter steps shrink the step buffers (logits rows) for large vocabularies.
 */
const SMALLER_ENGINES = [
  { maxSeqs: 16, maxTokens: 256 },
  { maxSeqs: 4, maxTokens: 128 },
  { maxSeqs: 1, maxTokens: 64 },
] as const;

/**
 * WebGPU where asked and present; else the CPU backend, with a notice saying why. 'auto' also takes
 * the CPU backend over a software adapter (SwiftShader: the same kernels through Vulkan emulation,
 * far slower than the CPU backend's own), as `openBackend` does in Node, where the page can run it.
 */
async function pickBackend(m: LoadMessage, notice: Notice): Promise<Backend> {
  if (m.backend !== 'cpu') {
    const gpu = (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;
    let opened: Backend | null = null;
    try {
      if (!gpu) throw new Error('navigator.gpu is missing (this browser or context has no WebGPU)');
      opened = await openBackend({
        prefer: 'webgpu',
        ...(m.memoryBudget === undefined ? {} : { memoryBudget: m.memoryBudget }),
      });
    } catch (e) {
      notice('no-webgpu', `WebGPU unavailable (${(e as Error).message.split('\n')[0]}); running on the CPU backend`);
    }
    if (opened && !(m.backend === 'auto' && opened.caps.software && crossOriginIsolationProblem() === null))
      return opened;
    if (opened) {
      notice(
        'no-webgpu',
        `the WebGPU adapter (${opened.caps.description || opened.caps.architecture || 'unnamed'}) is a software renderer, ` +
          "slower than the CPU backend's own kernels: running on the CPU backend (backend 'webgpu' uses it)",
      );
      opened.destroy();
    }
  }
  const problem = crossOriginIsolationProblem();
  if (problem) throw problem;
  await loadKernelModule();
  return openBackend({ prefer: 'cpu' });
}

/**
 * The model on `backend`, or on a fresh one with a smaller engine (SMALLER_ENGINES) after each
 * OutOfMemoryError: a fresh device, since a failed load leaves what it allocated counted. Returns
 * the model and the backend it runs on.
 */
async function loadFitting(
  first: Backend,
  m: LoadMessage,
  folder: Folder,
  actDtype: 'f16' | 'f32' | undefined,
  notice: Notice,
): Promise<{ model: TesseraModel; backend: Backend }> {
  const dtype = actDtype ? { actDtype } : {};
  let backend = first;
  for (let i = 0; ; i++) {
    const size = i === 0 ? {} : SMALLER_ENGINES[i - 1]!;
    try {
      const loaded = await loadModel(folder, { backend, ...dtype, ...size });
      // the driver reports its own out-of-memory errors asynchronously: collect them before serving
      await backend.flush().catch(async (e: unknown) => {
        await loaded.close().catch(() => undefined);
        throw e;
      });
      if (i > 0)
        notice(
          'smaller-batch',
          `out of GPU memory for the default engine: running ${SMALLER_ENGINES[i - 1]!.maxSeqs} sequences at once, ` +
            `${SMALLER_ENGINES[i - 1]!.maxTokens} tokens a step`,
        );
      return { model: loaded, backend };
    } catch (e) {
      if (!(e instanceof OutOfMemoryError) || backend.name !== 'webgpu' || i === SMALLER_ENGINES.length) throw e;
      backend.destroy();
      backend = await pickBackend({ ...m, backend: 'webgpu' }, notice);
    }
  }
}

/** Starts answering the page's messages in this worker. */
export function hostWorkerEngine(scope: WorkerScope = globalThis as unknown as WorkerScope): void {
  let model: TesseraModel | null = null;
  let chat: PageChatModel | null = null;
  let backend: Backend | null = null;
  const running = new Map<number, EngineRequest[]>();
  const post = (m: FromWorker) => scope.postMessage(m);

  const notice: Notice = (code, message) => post({ type: 'notice', code, message });

  async function load(m: LoadMessage): Promise<void> {
    try {
      backend = await pickBackend(m, notice);
      let actDtype = m.actDtype;
      if (backend.name === 'webgpu' && !backend.caps.f16) {
        post({
          type: 'notice',
          code: 'no-f16',
          message: 'this GPU has no shader-f16: activations run in f32 (same results, more memory and time)',
        });
        actDtype = 'f32';
      }
      const onProgress = (p: { loaded: number; total: number }) =>
        post({ type: 'progress', loaded: p.loaded, total: p.total });
      const remote = urlFolder(m.modelUrl, { onProgress });
      const folder =
        m.cache !== false && opfsAvailable()
          ? await opfsCachedFolder(remote, { onEvent: (ev) => post({ type: 'cache', ...ev }) })
          : remote;
      ({ model, backend } = await loadFitting(backend, m, folder, actDtype, notice));
      // watched once loading is over: a smaller engine's retry destroys the first device on purpose
      const lost = (backend as { lost?: Promise<Error> }).lost;
      void lost?.then((error) => post({ type: 'device-lost', error: errorFields(error) }));
      chat = pageChatModel(model.name, model.engine, model.tokenizer);
      post({ type: 'ready', backend: backend.name, model: model.name });
    } catch (e) {
      post({ type: 'load-error', error: errorFields(e) });
    }
  }

  async function complete(id: number, body: unknown): Promise<void> {
    try {
      if (!chat) throw new Error('the model is not loaded');
      await runChatCompletion(
        chat,
        body,
        `chatcmpl-${id}`,
        {
          chunk: (chunk) => post({ type: 'chunk', id, chunk }),
          response: (response) => post({ type: 'response', id, response }),
        },
        (requests) => running.set(id, requests),
      );
      post({ type: 'end', id });
    } catch (e) {
      // GPU errors (device lost, out of memory) keep their type across the boundary
      post({
        type: 'error',
        id,
        error: errorFields(e instanceof ApiError || e instanceof GpuError ? e : toApiError(e)),
      });
    } finally {
      running.delete(id);
    }
  }

  scope.addEventListener('message', (e) => {
    const m = e.data;
    if (m.type === 'load') void load(m);
    else if (m.type === 'chat') void complete(m.id, m.body);
    else if (m.type === 'lose-device') (backend as { device?: GPUDevice } | null)?.device?.destroy();
    else for (const r of running.get(m.id) ?? []) r.abort();
  });
}
