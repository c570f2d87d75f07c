/** GEMM rate for `tessera doctor`, through whichever `matmul` kernel the device gets. */
import type { WebGpuBackend } from './webgpu-backend.js';
import { toHost } from '../../tensor/dtype.js';
import { Rng } from '../../util/rng.js';
import { medianReplayMs } from './measure.js';

export interface GemmRate {
  size: number;
  dtype: 'f16' | 'f32';
  path: string;
  tflops: number;
}

export async function measureGemmRate(backend: WebGpuBackend, size: number, reps = 10): Promise<GemmRate | null> {
  const dtype = backend.caps.f16 ? 'f16' : 'f32';
  const desc = { dtype, shape: [size, size] } as const;
  if (!backend.supportsOp('matmul', {}, [desc, desc])) return null;
  const rng = new Rng(1);
  const a = backend.alloc(desc, 'gemm.a', 'measure');
  const b = backend.alloc(desc, 'gemm.b', 'measure');
  const c = backend.alloc(desc, 'gemm.c', 'measure');
  try {
    const data = toHost(dtype, rng.normals(size * size));
    backend.write(a, data);
    backend.write(b, data);
    const before = backend.dispatchCount;
    const stream = backend.record(() => backend.run('matmul', {}, [a, b], [c]));
    const path = stream.dispatches.map((d) => d.label).join('+') || `${backend.dispatchCount - before} dispatches`;
    const ms = await medianReplayMs(backend, stream, reps);
    stream.destroy();
    return { size, dtype, path, tflops: (2 * size ** 3) / (ms * 1e9) };
  } finally {
    for (const t of [a, b, c]) backend.free(t);
  }
}
