/**
 * Quick on-device measurements for `tessera doctor`: copy bandwidth with a vectorised WGSL copy,
 * timed over replays of a recorded dispatch stream (so launch overhead is amortised as it is in
 * a decode step). Benchmarks in `bench/` do the careful, anchored version of the same.
 */
import type { WebGpuBackend } from './webgpu-backend.js';
import { grid2d } from './grid.js';
import type { GpuTensor } from './kernel.js';
import type { DispatchStream } from './dispatch-stream.js';

const COPY_WG = 256;

export const COPY_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;
@compute @workgroup_size(${COPY_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${COPY_WG}u;
  if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}`;

/** Median over five batches of `reps` replays of a recorded stream, in ms per replay (after warm-up). */
export async function medianReplayMs(backend: WebGpuBackend, stream: DispatchStream, reps: number): Promise<number> {
  // an idle GPU runs at a fraction of its clock (345 MHz seen on the H100): keep it busy ≥ 150 ms first
  const warm = performance.now();
  do {
    stream.replay(3);
    await backend.flush();
  } while (performance.now() - warm < 150);
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    stream.replay(reps);
    await backend.flush();
    times.push((performance.now() - t0) / reps);
  }
  times.sort((x, y) => x - y);
  return times[2]!;
}

/** Median-of-runs copy bandwidth in GB/s, counting bytes read plus bytes written. */
export async function measureCopyBandwidth(backend: WebGpuBackend, bytes: number, reps = 20): Promise<number> {
  const size = Math.min(bytes, backend.caps.maxStorageBufferBindingSize) & ~15;
  const words = size / 4;
  const a = backend.alloc({ dtype: 'u32', shape: [words] }, 'copy.src', 'measure') as GpuTensor;
  const b = backend.alloc({ dtype: 'u32', shape: [words] }, 'copy.dst', 'measure') as GpuTensor;
  try {
    const fill = new Uint32Array(words);
    for (let i = 0; i < words; i++) fill[i] = (i * 2654435761) >>> 0;
    backend.write(a, fill);
    const stream = backend.record(() => {
      backend
        .kernelContext()
        .dispatch(
          { label: 'copy', wgsl: COPY_WGSL, access: ['read', 'rw'] },
          [a, b],
          null,
          grid2d(Math.ceil(size / 16 / COPY_WG), backend.caps.maxComputeWorkgroupsPerDimension),
        );
    });
    const ms = await medianReplayMs(backend, stream, reps);
    stream.destroy();
    return (2 * size) / (ms * 1e6);
  } finally {
    backend.free(a);
    backend.free(b);
  }
}
