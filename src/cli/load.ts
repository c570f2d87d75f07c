/** Loading a model for the CLI: the backend the user asked for and a one-line progress bar on stderr. */
import type { KvCacheDtype } from '../attention/kv-quant.js';
import type { Backend } from '../backends/backend.js';
import { type BackendChoice, describeBackend, openBackend } from '../backends/open.js';
import type { LoadProgress } from '../io/tensor-source.js';
import type { BertModelConfig } from '../models/bert/bert-config.js';
import { loadBertEncoder } from '../models/bert/bert-family.js';
import { engineTokenizer } from '../models/engine-tokenizer.js';
import type { OpenedModel, RunnerOptions } from '../models/family.js';
import { type LoadedRunner, loadRunner } from '../models/load-model.js';
import { openModel } from '../models/open-model.js';
import { memoryLine } from './memory-line.js';
import type { LoadedEmbeddingModel, LoadedModel, LoadedServedModel } from './serve.js';

/** A model for `serve --model`: an encoder when the checkpoint is a BERT one, else a chat model. */
export async function loadServedModel(modelPath: string, backendName?: string): Promise<LoadedServedModel> {
  const opened = await openModel(modelPath);
  if (opened.family !== 'bert') {
    await opened.weights.close();
    return { kind: 'chat', ...(await loadChatModel(modelPath, backendName)) };
  }
  return { kind: 'embedding', ...(await loadEmbeddingModel(modelPath, backendName, opened)) };
}

/**
 * An encoder for `serve --model`, with what recovery from a lost device needs: the device's
 * `lost` promise and this loader again as the reload (WebGPU only, as for a chat model).
 */
export async function loadEmbeddingModel(
  modelPath: string,
  backendName?: string,
  opened?: Awaited<ReturnType<typeof openModel>>,
): Promise<LoadedEmbeddingModel> {
  const model = opened ?? (await openModel(modelPath));
  try {
    if (!model.tokenizer) throw new Error(`${modelPath}: no tokenizer (put tokenizer.json beside the weights)`);
    const backend = await openBackend(backendName ? { prefer: backendName as BackendChoice } : {});
    // a failed load must not keep its device: a server retrying a reload would gather them
    const embedder = await loadBertEncoder(model as OpenedModel<BertModelConfig>, { backend }).catch((e: unknown) => {
      backend.destroy();
      throw e;
    });
    const modelName = modelPath.replace(/\/+$/, '').split('/').pop()!;
    console.error(`[tessera] ${modelName} (embeddings) on ${backend.name}`);
    const loaded = { embedder, tokenizer: engineTokenizer(model.tokenizer), modelName };
    const lost = backend.lost;
    if (!lost) return loaded;
    return {
      ...loaded,
      lost,
      reload: () => loadEmbeddingModel(modelPath, 'webgpu'),
      dispose: () => {
        embedder.destroy();
        backend.destroy();
      },
    };
  } finally {
    await model.weights.close();
  }
}

/**
 * A chat model for `serve`, with what recovery from a lost device needs: the device's `lost`
 * promise and this loader again as the reload. A reload asks for WebGPU only: falling back to
 * the CPU backend would keep serving, unannounced and far slower, where a retry may find the GPU.
 */
export async function loadChatModel(
  modelPath: string | undefined,
  backendName?: string,
  lora?: RunnerOptions['lora'],
  extra: ChatLoadOptions = {},
): Promise<LoadedModel> {
  const { runner, tokenizer, name, backend } = await loadRunnerWithProgress(modelPath, backendName, lora, extra);
  const loaded: LoadedModel = { runner, tokenizer, modelName: name, device: describeBackend(backend) };
  const lost = backend.lost;
  if (!lost) return loaded;
  return {
    ...loaded,
    lost,
    reload: () => loadChatModel(modelPath, 'webgpu', lora, extra),
    dispose: () => {
      runner.destroy();
      backend.destroy();
    },
  };
}

/** Runner options the CLI's flags set beyond the backend and adapters. */
export interface ChatLoadOptions {
  readonly kvCache?: KvCacheDtype;
}

export async function loadRunnerWithProgress(
  modelPath: string | undefined,
  backendName?: string,
  lora?: RunnerOptions['lora'],
  extra: ChatLoadOptions = {},
): Promise<LoadedRunner & { backend: Backend }> {
  // the fallback's reason joins the one line that names the backend
  let fallback = '';
  const backend = await openBackend({
    prefer: backendName as 'auto' | 'cpu' | 'webgpu' | undefined,
    log: (m) => {
      if (m.includes('running on the CPU backend'))
        fallback = m.replace(/^\[tessera\] running on the CPU backend: /, '');
      else console.error(m);
    },
  });
  const tty = process.stderr.isTTY;
  const t0 = performance.now();
  const rate = (bytes: number) => `${(bytes / 1e9 / Math.max(1e-3, (performance.now() - t0) / 1e3)).toFixed(2)} GB/s`;
  let total = 0;
  const onProgress = (p: LoadProgress) => {
    total = p.bytesTotal;
    if (!tty) return;
    const frac = p.bytesTotal ? p.bytesDone / p.bytesTotal : 1;
    const width = 30;
    process.stderr.write(
      `\rloading [${'#'.repeat(Math.round(frac * width)).padEnd(width)}] ${(p.bytesDone / 2 ** 20).toFixed(1)}/${(p.bytesTotal / 2 ** 20).toFixed(1)} MiB, ${rate(p.bytesDone)}`,
    );
  };
  // a failed load must not keep its device: a server retrying a reload would gather them
  const loaded = await loadRunner(modelPath === undefined || modelPath === 'builtin' ? undefined : modelPath, {
    backend,
    onProgress,
    ...(lora ? { lora } : {}),
    ...(extra.kvCache ? { kvCache: extra.kvCache } : {}),
  }).catch((e: unknown) => {
    backend.destroy();
    throw e;
  });
  if (tty) process.stderr.write('\n');
  console.error(
    `[tessera] ${loaded.name} on ${describeBackend(backend)}${fallback ? `, no WebGPU: ${fallback}` : ''}${total > 2 ** 30 ? ` (weights loaded at ${rate(total)})` : ''}`,
  );
  console.error(`[tessera] ${memoryLine(backend, loaded.runner)}`);
  return { ...loaded, backend };
}
