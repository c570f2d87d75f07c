/** Loading a model for the CLI: the backend the user asked for and a one-line progress bar on stderr. */
import { type BackendChoice, describeBackend, openBackend } from '../backends/open.js';
import type { LoadProgress } from '../io/tensor-source.js';
import type { BertModelConfig } from '../models/bert/bert-config.js';
import { loadBertEncoder } from '../models/bert/bert-family.js';
import { engineTokenizer } from '../models/engine-tokenizer.js';
import type { OpenedModel } from '../models/family.js';
import { type LoadedRunner, loadRunner } from '../models/load-model.js';
import { openModel } from '../models/open-model.js';
import type { LoadedServedModel } from './serve.js';

/** A model for `serve --model`: an encoder when the checkpoint is a BERT one, else a chat model. */
export async function loadServedModel(modelPath: string, backendName?: string): Promise<LoadedServedModel> {
  const opened = await openModel(modelPath);
  if (opened.family !== 'bert') {
    await opened.weights.close();
    const { runner, tokenizer, name } = await loadRunnerWithProgress(modelPath, backendName);
    return { kind: 'chat', runner, tokenizer, modelName: name };
  }
  try {
    if (!opened.tokenizer) throw new Error(`${modelPath}: no tokenizer (put tokenizer.json beside the weights)`);
    const backend = await openBackend(backendName ? { prefer: backendName as BackendChoice } : {});
    const embedder = await loadBertEncoder(opened as OpenedModel<BertModelConfig>, { backend });
    const modelName = modelPath.replace(/\/+$/, '').split('/').pop()!;
    console.error(`[tessera] ${modelName} (embeddings) on ${backend.name}`);
    return { kind: 'embedding', embedder, tokenizer: engineTokenizer(opened.tokenizer), modelName };
  } finally {
    await opened.weights.close();
  }
}

export async function loadRunnerWithProgress(
  modelPath: string | undefined,
  backendName?: string,
): Promise<LoadedRunner> {
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
  const loaded = await loadRunner(modelPath === undefined || modelPath === 'builtin' ? undefined : modelPath, {
    backend,
    onProgress,
  });
  if (tty) process.stderr.write('\n');
  console.error(
    `[tessera] ${loaded.name} on ${describeBackend(backend)}${fallback ? `, no WebGPU: ${fallback}` : ''}${total > 2 ** 30 ? ` (weights loaded at ${rate(total)})` : ''}`,
  );
  return loaded;
}
