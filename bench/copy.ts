/**
 * Copy bandwidth: a WGSL copy kernel (16-byte loads and stores) against PyTorch's `copy_`, both
 * counting bytes read plus bytes written. The best of our variants is the "copy ceiling" other
 * memory-bound benchmarks (GEMV) are measured against. The destination is filled with other
 * data first and read back after timing: every word must equal the source's, or the bench fails.
 * Usage: node .build/bench/copy.js [anchors.json]   (anchors from bench/anchors/torch_gemm.py)
 */
import '../src/register-all.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { type BenchRow, anchorOf, cardName, fillRandom, readAnchors, row, timeGpu, writeResults } from './results.js';
import { Check } from './verify.js';

/** WGSL copying `per` vec4<u32> per invocation, consecutive invocations on consecutive vectors. */
export function copyWgsl(per: number): string {
  return `@group(0) @binding(0) var<storage, read_write> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;
struct U { w: array<vec4<u32>, 1> }
@group(0) @binding(2) var<uniform> u: U;
@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = (wg.x + wg.y * nwg.x) * ${256 * per}u + lid;
  let n = u.w[0].x;
${Array.from({ length: per }, (_, i) => `  if (base + ${256 * i}u < n) { dst[base + ${256 * i}u] = src[base + ${256 * i}u]; }`).join('\n')}
}`;
}

export const COPY_SIZES = [256 * 2 ** 20, 1024 * 2 ** 20];

/** The first word where `got` differs from `want`, or −1. */
export function firstMismatch(want: ArrayLike<number>, got: ArrayLike<number>): number {
  if (want.length !== got.length) return Math.min(want.length, got.length);
  for (let i = 0; i < want.length; i++) if (want[i] !== got[i]) return i;
  return -1;
}

/**
 * Measures our copy at `bytes`; returns GB/s (read + write) of the best variant. Each variant's
 * copy is read back against the source (the destination is refilled with other data first) in
 * the caller's `check`, so no bench can use the bandwidth of a wrong copy.
 */
export async function measureCopy(
  backend: WebGpuBackend,
  bytes: number,
  check: Check,
): Promise<{ gbps: number; variant: string }> {
  const n = bytes / 16;
  const src = backend.alloc({ dtype: 'u32', shape: [bytes / 4] }, 'copy.src');
  const dst = backend.alloc({ dtype: 'u32', shape: [bytes / 4] }, 'copy.dst');
  fillRandom(backend, src, 7);
  const want = await backend.read(src);
  let best = { gbps: 0, variant: '' };
  for (const per of [1, 2, 4]) {
    fillRandom(backend, dst, 8 + per);
    const groups = Math.ceil(n / (256 * per));
    const y = Math.ceil(groups / 65535);
    const wgsl = copyWgsl(per);
    const ms = await timeGpu(backend, () =>
      backend.runProgram(
        { wgsl, entryPoint: 'copy', workgroups: [Math.ceil(groups / y), y, 1] },
        [src, dst],
        new Uint32Array([n, 0, 0, 0]),
      ),
    );
    const gbps = (2 * bytes) / (ms * 1e6);
    const at = firstMismatch(want, await backend.read(dst));
    check.that(
      at < 0,
      `copy ${bytes / 2 ** 20} MiB (${per} vec4/invocation) read back equal to its source, every word`,
      at < 0 ? '' : `first difference at word ${at}`,
    );
    if (gbps > best.gbps) best = { gbps, variant: `${per} vec4/invocation` };
  }
  backend.free(src);
  backend.free(dst);
  return best;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const backend = await WebGpuBackend.create({ onWarning: (m) => console.warn(m) });
  const card = cardName(backend);
  const anchors = readAnchors(process.argv[2], card);
  const check = new Check('copy');
  const rows: BenchRow[] = [];
  for (const bytes of COPY_SIZES) {
    const r = await measureCopy(backend, bytes, check);
    const key = `copy ${bytes / 2 ** 20} MiB`;
    const a = anchorOf(anchors, key);
    const anchor = a.value === null ? null : (2 * bytes) / (a.value * 1e6);
    rows.push(
      row({
        case: `${key} (${r.variant})`,
        metric: 'GB/s',
        higherIsBetter: true,
        ours: r.gbps,
        anchor,
        anchorName: anchor === null ? null : 'torch copy_',
        limit: anchor,
        limitName: anchor === null ? null : 'torch copy_',
        anchorWhyNull: a.why,
      }),
    );
  }
  writeResults(
    'copy',
    card,
    rows,
    'bytes read + written; WGSL copy kernel, best of 1/2/4 vec4<u32> per invocation; timed by replaying a recorded dispatch stream (≥ 40 ms batches), median of 7',
    check.passed(),
  );
  backend.destroy();
}
