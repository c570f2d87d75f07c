/**
 * What the tests of tensor-core kernels under emulated subgroup matrices share: a backend that
 * reports subgroup matrices (by default the emulated 16×16×16 f16 configuration) on a device
 * without them, and the dispatch labels of one run of a case, which name the kernel
 * and parameter set that served it. The backend class comes from the caller: those tests mock
 * kernel modules and then load fresh copies of the backend, which this module must not import.
 */
import type { SubgroupMatrixConfig } from '../../src/backends/webgpu/capabilities.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import type { OpCase, OpSpec } from '../../src/ops/op-spec.js';
import { EMULATED_CFG, LANES } from './sgmat-emulation.js';

/** A backend over `gpu`'s device that reports subgroup matrices of configuration `cfg`, subgroups of LANES. */
export function emulatedBackend(
  Backend: typeof WebGpuBackend,
  gpu: WebGpuBackend,
  cfg: SubgroupMatrixConfig = EMULATED_CFG,
): WebGpuBackend {
  return new Backend({
    ...gpu.ctx,
    caps: { ...gpu.caps, subgroupMatrix: [cfg], subgroupMinSize: LANES, subgroupMaxSize: LANES },
  });
}

/** The dispatch labels of one run of `op` on case `c`, space-separated. */
export function dispatchLabels(b: WebGpuBackend, op: OpSpec, c: OpCase): string {
  const ts = c.inputs.map((i, k) => b.alloc(i.desc, `emu.in${k}`));
  const out = b.alloc(
    op.outputs(
      c.attrs,
      c.inputs.map((i) => i.desc),
    )[0]!,
    'emu.out',
  );
  const rec = b.record(() => b.run(op.name, c.attrs, ts, [out]));
  const label = rec.dispatches.map((d) => d.label).join(' ');
  rec.destroy();
  for (const t of [...ts, out]) b.free(t);
  return label;
}
