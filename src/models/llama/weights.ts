/**
 * Uploads a checkpoint's weights to a backend in the graph's parameter order, one tensor at a time.
 * Tensors stored in the graph's dtype stream from the file straight into the backend's staging
 * memory where it has an uploader (no host copy; see staging-upload.ts); the rest (e.g. GGUF norms
 * kept in f32) are read, converted on the host and written, with peak host memory of one tensor.
 */
import type { Backend, Tensor, Uploader } from '../../backends/backend.js';
import type { LlamaConfig } from './llama-config.js';
import { loadEach, type ProgressCallback, type TensorSource } from '../../io/tensor-source.js';
import { type DType, type HostArray, toFloat64, toHost } from '../../tensor/dtype.js';
import { weightNames } from './graph.js';
import type { QuantMatmulAttrs } from '../../quant/ops.js';
import { weightBytes } from '../../quant/formats.js';
import { hasStoredQuantized, uploadStored } from './quantized-weights.js';
import type { AtomSite, W4a4AsHf } from './w4a4-source.js';
import { w4a4ParamTypes } from './w4a4-graph.js';

/**
 * Tensors smaller than this take the write path: a staging map round trip costs more than copying
 * a small tensor twice (Dawn resolves maps on its event poll, ~90 ms on lavapipe), and the bulk of
 * any checkpoint's bytes is in its matrices.
 */
export const STREAM_MIN_BYTES = 8 << 20;

export async function uploadWeights(
  backend: Backend,
  cfg: LlamaConfig,
  source: TensorSource,
  dtype: DType,
  onProgress?: ProgressCallback,
  streamMinBytes = STREAM_MIN_BYTES,
  /** Weights uploaded as stored, quantized (quantized-weights.ts); the rest take `dtype`. */
  quantized: ReadonlyMap<string, QuantMatmulAttrs> = new Map(),
  /**
   * A W4A4 checkpoint served with the Atom kernels: its projections go up as their stored bytes,
   * and its channel gathers follow the weights (the graph's parameter order, w4a4-graph.ts).
   */
  w4a4?: W4a4AsHf,
): Promise<Tensor[]> {
  const all = weightNames(cfg);
  const names = all.filter((n) => !quantized.has(n) && !w4a4?.projections.has(n));
  const byName = new Map<string, Tensor>();
  const uploader = stagingUploader(backend, source, names, dtype, streamMinBytes);
  try {
    if (uploader) await streamStored(backend, uploader, source, names, dtype, streamMinBytes, byName, onProgress);
    await writeRest(backend, source, names, dtype, all.length, byName, onProgress);
    await uploader?.finish();
    if (quantized.size > 0)
      await uploadQuantized(backend, source, quantized, names.length, all.length, byName, onProgress);
    if (w4a4) await uploadW4a4(backend, cfg, w4a4, byName);
  } catch (e) {
    await uploader?.finish().catch(() => {});
    for (const t of byName.values()) backend.free(t);
    throw e;
  }
  const gathers = w4a4 ? w4a4ParamTypes(cfg).map(([n]) => byName.get(n)!) : [];
  return [...all.map((n) => byName.get(n)!), ...gathers];
}

/** Staging memory only when some tensor will stream through it, sized to the largest of them; else null. */
function stagingUploader(
  backend: Backend,
  source: TensorSource,
  names: readonly string[],
  dtype: DType,
  streamMinBytes: number,
): Uploader | null {
  const largest = Math.max(
    0,
    ...names.map((n) => source.tensors.get(n)).map((i) => (i?.dtype === dtype ? i.byteLength : 0)),
  );
  return source.readRange && backend.createUploader && largest >= streamMinBytes && largest > 0
    ? backend.createUploader(largest)
    : null;
}

/**
 * The `names` not yet in `byName` (not streamed): read, converted to `dtype` on the host where
 * stored in another, and written. Their progress continues the streamed part's count, so a
 * progress bar never moves back.
 */
async function writeRest(
  backend: Backend,
  source: TensorSource,
  names: readonly string[],
  dtype: DType,
  tensorsTotal: number,
  byName: Map<string, Tensor>,
  onProgress?: ProgressCallback,
): Promise<void> {
  const rest = names.filter((n) => !byName.has(n));
  const streamed = [...byName.keys()];
  const bytesStreamed = streamed.reduce((n, k) => n + source.tensors.get(k)!.byteLength, 0);
  const restProgress: ProgressCallback | undefined =
    onProgress &&
    ((p) =>
      onProgress({
        ...p,
        tensorsDone: streamed.length + p.tensorsDone,
        tensorsTotal,
        bytesDone: bytesStreamed + p.bytesDone,
        bytesTotal: bytesStreamed + p.bytesTotal,
      }));
  await loadEach(
    source,
    (name, data, info) => {
      const host: HostArray = info.dtype === dtype ? data : toHost(dtype, toFloat64(info.dtype, data));
      const t = backend.alloc({ dtype, shape: info.shape }, name, 'weights');
      byName.set(name, t);
      backend.write(t, host);
    },
    { names: rest, onProgress: restProgress },
  );
}

/** The quantized weights as stored, counting progress on from the `done` tensors before them. */
async function uploadQuantized(
  backend: Backend,
  source: TensorSource,
  quantized: ReadonlyMap<string, QuantMatmulAttrs>,
  done: number,
  tensorsTotal: number,
  byName: Map<string, Tensor>,
  onProgress?: ProgressCallback,
): Promise<void> {
  if (!hasStoredQuantized(source)) throw new Error('quantized weights planned from a source that stores none');
  let bytesDone = 0;
  const bytesTotal = [...quantized.values()].reduce((n, a) => n + weightBytes(a.format, a.n, a.k), 0);
  for (const [name, attrs] of quantized) {
    const t = await uploadStored(backend, source, name, attrs);
    byName.set(name, t);
    bytesDone += weightBytes(attrs.format, attrs.n, attrs.k);
    onProgress?.({ tensor: name, tensorsDone: ++done, tensorsTotal, bytesDone, bytesTotal });
  }
}

/** A W4A4 checkpoint's projections as their stored bytes, then its channel gathers (i32 permutations). */
async function uploadW4a4(
  backend: Backend,
  cfg: LlamaConfig,
  w4a4: W4a4AsHf,
  byName: Map<string, Tensor>,
): Promise<void> {
  for (const name of w4a4.projections.keys()) {
    const bytes = await w4a4.w4a4Bytes(name);
    const t = backend.alloc({ dtype: 'u8', shape: [bytes.length] }, name, 'weights');
    backend.write(t, bytes);
    byName.set(name, t);
  }
  for (const [name] of w4a4ParamTypes(cfg)) {
    const [, l, site] = /^model\.layers\.(\d+)\.atom\.(\w+)\.perm$/.exec(name)!;
    const perm = await w4a4.perm(Number(l), site as AtomSite);
    const t = backend.alloc({ dtype: 'i32', shape: [perm.length] }, name, 'weights');
    backend.write(t, perm);
    byName.set(name, t);
  }
}

/** The tensors stored in `dtype` of at least `minBytes`, file → staging → device, progress after each. */
async function streamStored(
  backend: Backend,
  uploader: Uploader,
  source: TensorSource,
  names: readonly string[],
  dtype: DType,
  minBytes: number,
  byName: Map<string, Tensor>,
  onProgress?: ProgressCallback,
): Promise<void> {
  const stored = names.filter((n) => {
    const info = source.tensors.get(n);
    return info?.dtype === dtype && info.byteLength >= minBytes;
  });
  const bytesTotal = names.reduce((n, k) => n + (source.tensors.get(k)?.byteLength ?? 0), 0);
  let bytesDone = 0;
  for (const [i, name] of stored.entries()) {
    const info = source.tensors.get(name)!;
    const t = backend.alloc({ dtype, shape: info.shape }, name, 'weights');
    byName.set(name, t);
    await uploader.upload(t, info.byteLength, (target, start) => source.readRange!(name, start, target));
    bytesDone += info.byteLength;
    onProgress?.({ tensor: name, tensorsDone: i + 1, tensorsTotal: names.length, bytesDone, bytesTotal });
  }
}
