/**
 * Loading llama.cpp through `node-llama-cpp` for the benchmark peers (llama-cpp-decode.ts,
 * llama-cpp-serve.ts): the part of its API they use, the package found from LLAMA_CPP_MODULE, the
 * backend checked (a Vulkan build that sees no GPU quietly runs ggml's CPU backend), and the card
 * named as the other peers name it.
 *
 * node-llama-cpp is not a dependency of Tessera (a peer carried as a tarball, see
 * scripts/pack-llama-cpp.sh) and its types are not available at build time; ESM ignores
 * NODE_PATH, so LLAMA_CPP_MODULE names its package folder.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface LlamaSequence {
  evaluate(
    tokens: number[],
    options: { temperature: number; yieldEogToken: boolean },
  ): AsyncGenerator<number, void, void>;
  /** Erases the sequence's tokens from the KV cache, so it can serve another request. */
  clearHistory(): Promise<void>;
}
export interface LlamaContext {
  getSequence(): LlamaSequence;
  /** node-llama-cpp's native context (internal): wrapped to count tokens per llama_decode. */
  _ctx?: object;
  readonly contextSize: number;
  readonly batchSize: number;
  readonly flashAttention?: boolean;
  dispose(): Promise<void>;
}
export interface LlamaModel {
  createContext(options: {
    sequences: number;
    contextSize: number;
    batchSize: number;
    threads?: number;
  }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
export interface Llama {
  readonly gpu: string | false;
  readonly llamaCppRelease: { readonly repo: string; readonly release: string };
  getGpuDeviceNames(): Promise<string[]>;
  loadModel(options: { modelPath: string; gpuLayers: 'max' | number }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}
interface NodeLlamaCpp {
  getLlama(options: { gpu: string | false; build: 'never'; logLevel: string; maxThreads?: number }): Promise<Llama>;
}

export interface OpenedLlamaCpp {
  llama: Llama;
  /** node-llama-cpp's package version, 'unknown' when imported by name. */
  version: string;
  devices: string[];
  /** nvidia-smi's name for the card where there is one (what torch and the other peers report), else the device's. */
  card: string;
}

/**
 * node-llama-cpp's llama.cpp with the `gpu` backend ('cpu' for none). Refuses a GPU backend that
 * sees no device unless `allowNoDevice` (then llama.cpp runs on the CPU, and the card says so).
 */
export async function openLlamaCpp(
  gpu: string,
  threads: number | undefined,
  allowNoDevice: boolean,
): Promise<OpenedLlamaCpp> {
  const moduleDir = process.env.LLAMA_CPP_MODULE;
  const lib = (await import(
    moduleDir ? pathToFileURL(join(moduleDir, 'dist', 'index.js')).href : 'node-llama-cpp'
  )) as NodeLlamaCpp;
  const version = moduleDir
    ? (JSON.parse(readFileSync(join(moduleDir, 'package.json'), 'utf8')) as { version: string }).version
    : 'unknown';
  const llama = await lib.getLlama({
    gpu: gpu === 'cpu' ? false : gpu,
    build: 'never',
    logLevel: 'warn',
    ...(threads ? { maxThreads: threads } : {}),
  });
  if (gpu !== 'cpu' && llama.gpu !== gpu)
    throw new Error(`asked for ${gpu}, node-llama-cpp loaded ${String(llama.gpu)}`);
  const devices = await llama.getGpuDeviceNames();
  if (gpu !== 'cpu' && devices.length === 0 && !allowNoDevice) {
    throw new Error(
      `node-llama-cpp (${gpu}) sees no GPU device: llama.cpp would run on the CPU (pass --allow-no-device to measure that anyway)`,
    );
  }
  let card = devices[0] ?? (gpu === 'cpu' ? 'cpu' : 'cpu (no GPU device)');
  try {
    const smi = execSync('nvidia-smi --query-gpu=name --format=csv,noheader', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .split('\n')[0]!
      .trim();
    if (smi && devices.length > 0) card = smi;
  } catch {
    /* no NVIDIA tools here */
  }
  return { llama, version, devices, card };
}

/**
 * Counts the tokens of each llama_decode call of `context` (by wrapping its internal native
 * handle), so a result can show how many tokens one batch really carried. Returns null when the
 * internals are not there (another node-llama-cpp version).
 */
export function countDecodeBatches(context: LlamaContext): number[] | null {
  const native = context._ctx;
  if (native === undefined || typeof (native as Record<string, unknown>).decodeBatch !== 'function') return null;
  const sizes: number[] = [];
  let queued = 0;
  context._ctx = new Proxy(native, {
    get(target, key) {
      const v = (target as Record<string | symbol, unknown>)[key];
      if (typeof v !== 'function') return v;
      if (key === 'addToBatch')
        return (...a: unknown[]) => {
          queued += (a[2] as ArrayLike<number>).length;
          return v.apply(target, a);
        };
      if (key === 'decodeBatch')
        return (...a: unknown[]) => {
          sizes.push(queued);
          queued = 0;
          return v.apply(target, a);
        };
      return v.bind(target);
    },
  });
  return sizes;
}
