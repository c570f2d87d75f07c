/**
 * Decode GEMV (M ≤ 4) for every format. Decode at batch 1 is bound by streaming the weights, so the
 * kernel is built to keep many bytes in flight and to spend few instructions per weight:
 *
 * - a workgroup owns R weight rows; each invocation takes a 32-weight chunk of every one of them
 *   per step (w4, Q4_K: one `vec4<u32>` load a row, w8 two; the GGUF blocks at odd offsets: u32
 *   words), issuing all R rows' loads before the first use, and consecutive invocations take
 *   consecutive chunks (coalesced);
 * - the chunk's 32 activations are read once as `vec4<f32>` and used for all R rows;
 * - the codes become f32 without conversion instructions and the scale multiplies a chunk's sum
 *   once where the format allows it exactly (gemv-chunk-wgsl.ts has the arithmetic per format);
 * - the R·M partial sums are reduced with `subgroupAdd` and one workgroup-memory step across
 *   subgroups where the device has subgroups, with a workgroup-memory tree otherwise.
 */
import type { QuantFormat } from './formats.js';
import { weightBytes } from './formats.js';
import { CHUNK, chunkHelpers, chunkStep, rowStart, vectorLoads } from './gemv-chunk-wgsl.js';

/** Activation rows the chunked GEMV takes (each adds 32 activations and R accumulators in registers). */
export const CHUNKED_GEMV_MAX_M = 4;

/** Overrides for the benchmarks and the fallback's tests; null keeps the defaults. */
export const chunkedGemvTuning: { rows: number | null; threads: number | null; subgroups: boolean | null } = {
  rows: null,
  threads: null,
  subgroups: null,
};

export interface ChunkedGemvParams {
  /** Weight rows per workgroup. */
  readonly R: number;
  /** Invocations per workgroup. */
  readonly W: number;
  /** Whether partial sums are reduced with subgroup operations. */
  readonly subgroups: boolean;
}

export const servesChunked = (m: number): boolean => m >= 1 && m <= CHUNKED_GEMV_MAX_M;

/**
 * Rows per workgroup: 4 by default, 2 for matrices under 2048 rows (Llama-3-8B's K/V projections,
 * N = 1024), which would otherwise give fewer than four workgroups per SM on a 132-SM card.
 */
export function chunkedGemvParams(n: number, caps: { subgroups: boolean }): ChunkedGemvParams {
  return {
    R: chunkedGemvTuning.rows ?? (n >= 2048 ? 4 : 2),
    W: chunkedGemvTuning.threads ?? 128,
    subgroups: chunkedGemvTuning.subgroups ?? caps.subgroups,
  };
}

/** Stored bytes of one row's chunk of 32 weights (codes with their share of scales and block headers). */
const chunkBytes = (format: QuantFormat, k: number): number => (weightBytes(format, 1, k) * CHUNK) / k;

/** What one call does at N × K: workgroups, steps, bytes each invocation, workgroup and SM has in flight. */
export interface ChunkedGemvGeometry {
  readonly workgroups: number;
  readonly rowsPerWorkgroup: number;
  readonly threads: number;
  /** K-loop turns of the busiest invocation (chunks per row / threads, rounded up). */
  readonly steps: number;
  /** Stored weight bytes one invocation loads per step before it uses any (R rows' chunks). */
  readonly bytesPerThreadStep: number;
  readonly bytesPerWorkgroupStep: number;
  /**
   * Weight bytes requested and not yet used per SM while the first wave runs: the resident
   * workgroups (at most 2048 invocations and 32 workgroups an SM, as on the H100, registers
   * permitting) spread over `sms`, each one step's loads.
   */
  readonly bytesInFlightPerSm: number;
}

export function chunkedGemvGeometry(
  format: QuantFormat,
  n: number,
  k: number,
  p: ChunkedGemvParams,
  sms = 132,
): ChunkedGemvGeometry {
  const chunks = k / CHUNK;
  const bytesPerThreadStep = p.R * chunkBytes(format, k);
  const workgroups = Math.ceil(n / p.R);
  const bytesPerWorkgroupStep = Math.min(chunks, p.W) * bytesPerThreadStep;
  const resident = Math.min(workgroups, sms * Math.min(32, Math.floor(2048 / p.W)));
  return {
    workgroups,
    rowsPerWorkgroup: p.R,
    threads: p.W,
    steps: Math.ceil(chunks / p.W),
    bytesPerThreadStep,
    bytesPerWorkgroupStep,
    bytesInFlightPerSm: Math.round((resident * bytesPerWorkgroupStep) / sms),
  };
}

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

function reduction(M: number, R: number, W: number, sg: boolean): string {
  const n = M * R;
  const all = (f: (m: number, j: number) => string) =>
    r(M)
      .flatMap((m) => r(R).map((j) => f(m, j)))
      .join('\n');
  if (sg)
    return `
${all((m, j) => `  let s${m}_${j} = subgroupAdd(acc${m}_${j});`)}
  if (sgi == 0u) {
${all((m, j) => `    red[(t / sgs) * ${n}u + ${m * R + j}u] = s${m}_${j};`)}
  }
  workgroupBarrier();
  let parts = ${W}u / sgs;`;
  return `
${all((m, j) => `  red[t * ${n}u + ${m * R + j}u] = acc${m}_${j};`)}
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { for (var i = 0u; i < ${n}u; i++) { red[t * ${n}u + i] += red[(t + s) * ${n}u + i]; } }
    workgroupBarrier();
  }
  let parts = 1u;`;
}

export function quantGemvChunkedWgsl(format: QuantFormat, m: number, p: ChunkedGemvParams): string {
  if (!servesChunked(m)) throw new Error(`the chunked GEMV serves M ≤ ${CHUNKED_GEMV_MAX_M}, got ${m}`);
  const { R, W, subgroups: sg } = p;
  const M = m;
  const n = M * R;
  // a slot per invocation and sum: the tree needs them all, and with subgroups it holds one per
  // subgroup of any size (M·R·W·4 bytes: 2 KiB at M 1, R 4)
  const redSize = n * W;
  return `${sg ? 'enable subgroups;\n' : ''}
struct U { m: u32, n: u32, k: u32, gx: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> wq: array<${vectorLoads(format) ? 'vec4<u32>' : 'u32'}>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
var<workgroup> red: array<f32, ${redSize}>;

${chunkHelpers(format)}

@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32${sg ? ', @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_size) sgs: u32' : ''}) {
  let K = u.k;
  let N = u.n;
  let first = (wg.x + wg.y * u.gx) * ${R}u;
  // rows past N read the last row (their sums are not stored), so every invocation reaches the
  // reduction
${r(R)
  .map((j) => `  let row${j} = min(first + ${j}u, N - 1u);\n  let rowv${j} = ${rowStart(format, `row${j}`)};`)
  .join('\n')}
${format === 'w4' || format === 'w8' ? `  // the scale plane's first vec4, after the codes\n  let plane = N * (${format === 'w8' ? 'K / 16u' : 'K / 32u'});\n` : ''}${r(
  M,
)
  .map((mm) =>
    r(R)
      .map((j) => `  var acc${mm}_${j} = 0.0;`)
      .join(' '),
  )
  .join('\n')}
  for (var c = t; c < K / ${CHUNK}u; c += ${W}u) {${chunkStep(format, M, R)}
  }
${reduction(M, R, W, sg)}
  if (t < ${n}u) {
    let mi = t / ${R}u;
    let row = first + t % ${R}u;
    var v = 0.0;
    for (var s = 0u; s < parts; s++) { v += red[s * ${n}u + t]; }
    if (row < N) { y[mi * N + row] = v; }
  }
}
`;
}
