/**
 * Seeded pseudo-random f32 in [-1, 1) as a pure function of (seed, index), so that a GiB of it can
 * be made on the GPU (milliseconds, nothing crosses the bus) while a float64 oracle recomputes on
 * the host just the elements it reads. Every value is k · 2⁻²³ − 1 with k < 2²⁴: exact in f32, so
 * the GPU's values and the host's are the same numbers, not merely close.
 *
 * The hash is lowbias32 (Wellons), a bijection on u32: index i of seed s is
 * lowbias32(i xor lowbias32(s)), its top 24 bits scaled into [-1, 1).
 *
 * @example
 * const fill = new HashFill(device);
 * fill.fill(buf, 7, n);            // buf[i] = hashF32(7, i) for i < n
 * hashF32(7, 12345);               // the same value, on the host
 */

/** lowbias32: a u32 → u32 bijection with good avalanche, in 32-bit integer arithmetic. */
export function hashU32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** Element `i` (< 2³¹) of the stream of `seed`. */
export function hashF32(seed: number, i: number): number {
  return (hashU32((i ^ hashU32(seed)) >>> 0) >>> 8) * 2 ** -23 - 1;
}

/** Elements [start, start + n) of the stream of `seed`. */
export function hashF32Range(seed: number, start: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const key = hashU32(seed);
  for (let j = 0; j < n; j++) out[j] = (hashU32(((start + j) ^ key) >>> 0) >>> 8) * 2 ** -23 - 1;
  return out;
}

const WG = 256;

const FILL_WGSL = /* wgsl */ `
struct P { key: u32, count: u32, stride: u32, pad: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: P;

fn lowbias32(x0: u32) -> u32 {
  var x = x0;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  // grid-stride: a GiB has more elements than one dimension of workgroups can cover
  for (var i = id.x; i < p.count; i += p.stride) {
    out[i] = f32(lowbias32(i ^ p.key) >> 8u) * (1.0 / 8388608.0) - 1.0;
  }
}`;

/** Fills GPU buffers with `hashF32(seed, i)`; one pipeline, one dispatch per buffer. */
export class HashFill {
  private readonly pipeline: GPUComputePipeline;
  constructor(private readonly device: GPUDevice) {
    const module = device.createShaderModule({ code: FILL_WGSL });
    this.pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  }

  /** Writes elements [0, count) of `buffer` (f32) from the stream of `seed`; queued, not awaited. */
  fill(buffer: GPUBuffer, seed: number, count: number): void {
    // indices are u32 and the grid-stride step must not wrap past the end
    if (count > 2 ** 31) throw new RangeError(`hash fill of ${count} elements: at most 2^31`);
    const groups = Math.max(1, Math.min(this.device.limits.maxComputeWorkgroupsPerDimension, Math.ceil(count / WG)));
    const u = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(u, 0, new Uint32Array([hashU32(seed), count, groups * WG, 0]));
    const bind = this.device.createBindGroup({
      layout: this.pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer } },
        { binding: 1, resource: { buffer: u } },
      ],
    });
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(groups);
    pass.end();
    this.device.queue.submit([enc.finish()]);
    // the uniform may go once the submit holds it
    u.destroy();
  }
}
