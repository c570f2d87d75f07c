import { describe, expect, it } from 'vitest';
import { openBackend } from '../../src/backends/open.js';
import { NoAdapterError } from '../../src/backends/webgpu/errors.js';

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
  it('honours prefer: cpu', async () => {
    expect((await openBackend({ prefer: 'cpu' })).name).toBe('cpu');
  });
});
