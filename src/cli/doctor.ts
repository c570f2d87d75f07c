/**
 * `tessera doctor`: what this machine offers Tessera — adapter, driver, features, limits,
 * subgroup-matrix shapes, the f16 self-test verdict, and measured copy bandwidth and GEMM rate.
 */
import type { Command } from 'commander';
import { describeCaps } from '../backends/webgpu/device.js';
import { measureCopyBandwidth } from '../backends/webgpu/measure.js';
import { measureGemmRate } from '../backends/webgpu/measure-gemm.js';

export interface DoctorReport {
  backend: 'webgpu' | 'cpu';
  lines: string[];
}

export async function runDoctor(opts: { quick?: boolean } = {}): Promise<DoctorReport> {
  const { WebGpuBackend } = await import('../backends/webgpu/webgpu-backend.js');
  const warnings: string[] = [];
  let backend;
  try {
    backend = await WebGpuBackend.create({ onWarning: (m) => warnings.push(m) });
  } catch (e) {
    return {
      backend: 'cpu',
      lines: [
        `WebGPU: unavailable — ${(e as Error).message}`,
        'Tessera will run on its CPU backend (slow, but complete).',
      ],
    };
  }
  const lines = ['WebGPU: available', ...describeCaps(backend.caps).split('\n')];
  lines.push(
    `f16 self-test: ${backend.caps.f16 ? 'passed' : (warnings.find((w) => w.includes('f16')) ?? 'not run (no shader-f16)')}`,
  );
  const copyBytes = opts.quick ? 16 << 20 : Math.min(1 << 30, backend.caps.maxStorageBufferBindingSize);
  const gbps = await measureCopyBandwidth(backend, copyBytes);
  lines.push(`copy bandwidth: ${gbps.toFixed(1)} GB/s (${(copyBytes / 2 ** 20).toFixed(0)} MiB buffers, read + write)`);
  const gemm = await measureGemmRate(backend, opts.quick ? 256 : 4096);
  lines.push(
    gemm
      ? `GEMM ${gemm.size}³ ${gemm.dtype} (${gemm.path}): ${gemm.tflops >= 1 ? `${gemm.tflops.toFixed(1)} TFLOP/s` : `${(gemm.tflops * 1000).toFixed(1)} GFLOP/s`}`
      : 'GEMM: no matmul kernel for this device',
  );
  backend.destroy();
  return { backend: 'webgpu', lines };
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('report the GPU adapter, features, limits, self-test and measured bandwidth / GEMM rate')
    .option('--quick', 'small measurements (seconds on a CPU-emulated GPU)')
    .action(async (o: { quick?: boolean }) => {
      const report = await runDoctor(o);
      for (const l of report.lines) console.log(l);
    });
}
