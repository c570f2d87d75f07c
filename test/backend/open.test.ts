import { describe, expect, it } from 'vitest';
import { openBackend } from '../../src/backends/open.js';
import { NoAdapterError } from '../../src/backends/webgpu/errors.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import type { Backend } from '../../src/backends/backend.js';

describe('openBackend', () => {
  it('falls back to the CPU backend, saying so once with the fix', async () => {
    const lines: string[] = [];
    const failing = async () => {
      throw new NoAdapterError('requestAdapter() returned null');
    };
    const b1 = await openBackend({ openGpu: failing, log: (m) => lines.push(m) });
    const b2 = await openBackend({ openGpu: failing, log: (m) => lines.push(m) });
    expect(b1.name).toBe('cpu');
    expect(b2.name).toBe('cpu');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/CPU backend.*lavapipe/);
  });
  it('propagates the error when WebGPU is required', async () => {
    await expect(
      openBackend({
        prefer: 'webgpu',
        openGpu: async () => {
          throw new NoAdapterError('none');
        },
      }),
    ).rejects.toBeInstanceOf(NoAdapterError);
  });
  it('prefers the CPU backend to a software renderer unless WebGPU is asked for', async () => {
    const lines: string[] = [];
    let destroyed = 0;
    const software = async () =>
      ({
        name: 'webgpu',
        caps: { ...new CpuBackend().caps, software: true, description: 'llvmpipe' },
        destroy: () => destroyed++,
      }) as unknown as Backend;
    const auto = await openBackend({ openGpu: software, log: (m) => lines.push(m) });
    expect(auto.name).toBe('cpu');
    expect(destroyed).toBe(1);
    expect(lines.join('\n')).toMatch(/llvmpipe is a software renderer; running on the CPU backend/);
    const forced = await openBackend({ prefer: 'webgpu', openGpu: software, log: (m) => lines.push(m) });
    expect(forced.name).toBe('webgpu');
  });
  it('honours prefer: cpu', async () => {
    expect((await openBackend({ prefer: 'cpu' })).name).toBe('cpu');
  });
});
