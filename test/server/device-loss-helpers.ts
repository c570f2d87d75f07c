/**
 * What the lost-device tests share: the built-in model loaded on a WebGPU device of its own (the
 * loader closure a recovery supervisor calls again after the loss), its release, readiness as the
 * tests read it, and polling until a condition holds.
 */
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import type { EngineTokenizer } from '../../src/engine/tokenizer.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner, type LlamaRunnerOptions } from '../../src/models/llama/llama-runner.js';

const BUILTIN = new URL('../../models/builtin/', import.meta.url).pathname;

export interface LoadedOnDevice {
  backend: WebGpuBackend;
  runner: LlamaRunner;
  tokenizer: EngineTokenizer;
}

/** The built-in model on a new device, f32 activations, with the runner options given. */
export async function loadBuiltinOnOwnDevice(options: Omit<LlamaRunnerOptions, 'backend'>): Promise<LoadedOnDevice> {
  const backend = await WebGpuBackend.create();
  const model = await openLlamaModel(BUILTIN);
  try {
    const runner = await LlamaRunner.load(model, { backend, actDtype: 'f32', ...options });
    return { backend, runner, tokenizer: engineTokenizer(model.tokenizer!) };
  } finally {
    await model.weights.close();
  }
}

export const releaseOf = (m: LoadedOnDevice) => () => {
  m.runner.destroy();
  m.backend.destroy();
};

export async function readiness(url: string) {
  const res = await fetch(`${url}/health/ready`);
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as { status: string; error?: string; models: { id: string; status: string }[] },
  };
}

/** Polls `probe` until it gives a value other than null, or fails naming `what`. */
export async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const t0 = performance.now();
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
