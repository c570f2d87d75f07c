/**
 * The start-up self-test. `shader-f16` is blocklisted on NVIDIA because old drivers computed f16
 * wrongly; we turn it on with a Dawn toggle, so we must check it ourselves: a few f16 operations
 * and one f16 subgroup-matrix product against the CPU, and one product of each 8-bit
 * configuration (self-test-i8.ts). A feature that fails is not used, and the
 * reason is kept in `caps.disabled` so it is said once.
 */
import type { Capabilities, SubgroupMatrixConfig } from './capabilities.js';
import { f16Bits, f16ToNumber } from '../../tensor/dtype.js';
import { testPackedMatrix } from './self-test-i8.js';

export async function runOnce(
  device: GPUDevice,
  code: string,
  inputs: Float32Array[],
  outLength: number,
  workgroupSize: number,
): Promise<Float32Array | string> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length) {
    await device.popErrorScope();
    return `shader did not compile: ${errors.map((m) => m.message).join('; ')}`;
  }
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const buffers = inputs.map((data) => {
    const b = device.createBuffer({
      size: Math.max(16, data.byteLength),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(b, 0, data);
    return b;
  });
  const out = device.createBuffer({ size: outLength * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({
    size: outLength * 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [...buffers, out].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(1);
  pass.end();
  enc.copyBufferToBuffer(out, 0, staging, 0, outLength * 4);
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  if (err) return `validation error: ${err.message}`;
  await staging.mapAsync(GPUMapMode.READ);
  const result = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  for (const b of [...buffers, out, staging]) b.destroy();
  void workgroupSize;
  return result;
}

const F16_CASES = 64;

/** f16 multiply-add chains, rounded to f16 after each step on the CPU. */
async function testF16(device: GPUDevice): Promise<string | null> {
  const a = new Float32Array(F16_CASES);
  const b = new Float32Array(F16_CASES);
  for (let i = 0; i < F16_CASES; i++) {
    a[i] = f16ToNumber(f16Bits(Math.sin(i * 1.7) * (1 + (i % 7))));
    b[i] = f16ToNumber(f16Bits(Math.cos(i * 0.3) * 0.5 + 0.01 * i));
  }
  const code = /* wgsl */ `
enable f16;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${F16_CASES})
fn main(@builtin(local_invocation_index) i: u32) {
  let x = f16(a[i]);
  let w = f16(b[i]);
  var acc = x * w;
  acc = acc + x;
  acc = acc * w - f16(0.25);
  y[i] = f32(acc);
}`;
  const got = await runOnce(device, code, [a, b], F16_CASES, F16_CASES);
  if (typeof got === 'string') return got;
  const r = (x: number) => f16ToNumber(f16Bits(x));
  for (let i = 0; i < F16_CASES; i++) {
    const x = a[i]!;
    const w = b[i]!;
    const want = r(r(r(r(x * w) + x) * w) - 0.25);
    const g = got[i]!;
    // fused multiply-add may skip one rounding: allow a few f16 ulps
    if (!(Math.abs(g - want) <= 4 * 2 ** -10 * Math.max(1, Math.abs(want))))
      return `f16 arithmetic wrong at case ${i}: got ${g}, want ${want}`;
  }
  return null;
}

/** One M×N×K f16 subgroup-matrix product (f32 result) against the CPU. */
async function testSubgroupMatrix(
  device: GPUDevice,
  cfg: SubgroupMatrixConfig,
  subgroupSize: number,
): Promise<string | null> {
  // Dawn moved to a template form of load/store (layout as a template argument) and warns on the
  // old boolean form; try the current form first so both Dawn generations pass.
  const current = await testSubgroupMatrixSyntax(device, cfg, subgroupSize, 'template');
  return current !== null && current.startsWith('shader did not compile')
    ? testSubgroupMatrixSyntax(device, cfg, subgroupSize, 'bool')
    : current;
}

async function testSubgroupMatrixSyntax(
  device: GPUDevice,
  cfg: SubgroupMatrixConfig,
  subgroupSize: number,
  syntax: 'template' | 'bool',
): Promise<string | null> {
  const { M, N, K } = cfg;
  const a = new Float32Array(M * K).map((_, i) => f16ToNumber(f16Bits(((i * 37) % 17) / 8 - 1)));
  const b = new Float32Array(K * N).map((_, i) => f16ToNumber(f16Bits(((i * 11) % 13) / 6 - 1)));
  const resultType = cfg.resultComponentType;
  const load = (ty: string, buf: string, stride: number) =>
    syntax === 'template'
      ? `subgroupMatrixLoad<${ty}, row_major>(&${buf}, 0u, ${stride}u)`
      : `subgroupMatrixLoad<${ty}>(&${buf}, 0u, false, ${stride}u)`;
  const code = /* wgsl */ `
enable f16;
enable chromium_experimental_subgroup_matrix;
@group(0) @binding(0) var<storage, read> a32: array<f32>;
@group(0) @binding(1) var<storage, read> b32: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> sa: array<f16, ${M * K}>;
var<workgroup> sb: array<f16, ${K * N}>;
var<workgroup> sc: array<${resultType}, ${M * N}>;
@compute @workgroup_size(${subgroupSize})
fn main(@builtin(local_invocation_index) t: u32) {
  for (var i = t; i < ${M * K}u; i += ${subgroupSize}u) { sa[i] = f16(a32[i]); }
  for (var i = t; i < ${K * N}u; i += ${subgroupSize}u) { sb[i] = f16(b32[i]); }
  workgroupBarrier();
  let l = ${load(`subgroup_matrix_left<f16, ${K}, ${M}>`, 'sa', K)};
  let r = ${load(`subgroup_matrix_right<f16, ${N}, ${K}>`, 'sb', N)};
  var c = subgroup_matrix_result<${resultType}, ${N}, ${M}>();
  c = subgroupMatrixMultiplyAccumulate(l, r, c);
  ${syntax === 'template' ? `subgroupMatrixStore<row_major>(&sc, 0u, c, ${N}u);` : `subgroupMatrixStore(&sc, 0u, c, false, ${N}u);`}
  workgroupBarrier();
  for (var i = t; i < ${M * N}u; i += ${subgroupSize}u) { y[i] = f32(sc[i]); }
}`;
  const got = await runOnce(device, code, [a, b], M * N, subgroupSize);
  if (typeof got === 'string') return got;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let want = 0;
      for (let k = 0; k < K; k++) want += a[i * K + k]! * b[k * N + j]!;
      const g = got[i * N + j]!;
      const tol = resultType === 'f16' ? 2 ** -8 * Math.max(1, Math.abs(want)) : 1e-3;
      if (!(Math.abs(g - want) <= tol))
        return `subgroup-matrix ${M}x${N}x${K} ${resultType} product wrong at (${i}, ${j}): got ${g}, want ${want}`;
    }
  }
  return null;
}

export interface SelfTestVerdict {
  readonly caps: Capabilities;
  readonly f16Error: string | null;
  readonly matrixErrors: readonly string[];
}

export async function runSelfTest(device: GPUDevice, caps: Capabilities): Promise<SelfTestVerdict> {
  const disabled = [...caps.disabled];
  let f16 = caps.f16;
  let f16Error: string | null = null;
  if (f16) {
    f16Error = await testF16(device);
    if (f16Error) {
      f16 = false;
      disabled.push(
        `shader-f16 failed the self-test (${f16Error}); kernels use f32 arithmetic with f16 kept packed in u32`,
      );
    }
  }
  const matrixErrors: string[] = [];
  const kept: SubgroupMatrixConfig[] = [];
  for (const cfg of caps.subgroupMatrix) {
    if (cfg.componentType === 'i8' || cfg.componentType === 'u8') {
      const tested = await testPackedMatrix(device, cfg, caps.subgroupMaxSize || 32);
      if (typeof tested === 'string') {
        matrixErrors.push(tested);
        disabled.push(
          `subgroup-matrix ${cfg.componentType}→${cfg.resultComponentType} ${cfg.M}x${cfg.N}x${cfg.K} failed the self-test (${tested}); integer GEMMs use dot4I8Packed`,
        );
      } else kept.push(tested);
      continue;
    }
    if (cfg.componentType !== 'f16') {
      kept.push(cfg); // other component types have no user yet
      continue;
    }
    const err = !f16 ? 'f16 is disabled' : await testSubgroupMatrix(device, cfg, caps.subgroupMaxSize || 32);
    if (err) {
      matrixErrors.push(err);
      disabled.push(
        `subgroup-matrix ${cfg.componentType}→${cfg.resultComponentType} ${cfg.M}x${cfg.N}x${cfg.K} failed the self-test (${err}); GEMM uses the tiled f32 path`,
      );
    } else kept.push(cfg);
  }
  return { caps: { ...caps, f16, subgroupMatrix: kept, disabled }, f16Error, matrixErrors };
}
