/**
 * Backend selection: TESSERA_BACKEND is honoured wherever no explicit choice is made (the CLI's
 * `serve` and `run` pass none unless `--backend` is given), an explicit choice wins over it, a GPU
 * that opens but computes wrong is refused by the self-test, and the one line names the CPU
 * backend's threads.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { backendChoice, describeBackend, openBackend, selfTest } from '../../src/backends/open.js';

const saved = process.env.TESSERA_BACKEND;
afterEach(() => {
  if (saved === undefined) delete process.env.TESSERA_BACKEND;
  else process.env.TESSERA_BACKEND = saved;
});

/** A backend that computes like the CPU one but corrupts one element of every read. */
function wrongGpu(): Backend {
  const cpu = new CpuBackend();
  return Object.assign(Object.create(cpu) as Backend, {
    name: 'webgpu' as const,
    read: async (t: Parameters<Backend['read']>[0]) => {
      const d = (await cpu.read(t)) as Float32Array;
      d[3]! += 1;
      return d;
    },
  });
}

describe('backend selection', () => {
  it('honours TESSERA_BACKEND when the caller leaves the choice open', async () => {
    process.env.TESSERA_BACKEND = 'cpu';
    expect(backendChoice(undefined)).toBe('cpu');
    expect(backendChoice('auto')).toBe('cpu');
    let gpuOpened = false;
    const b = await openBackend({
      prefer: 'auto',
      openGpu: async () => {
        gpuOpened = true;
        throw new Error('not here');
      },
    });
    expect(b.name).toBe('cpu');
    expect(gpuOpened).toBe(false);
  });

  it('an explicit choice wins over the variable; unknown names are refused', () => {
    process.env.TESSERA_BACKEND = 'cpu';
    expect(backendChoice('webgpu')).toBe('webgpu');
    expect(() => backendChoice('tpu')).toThrow(/unknown backend 'tpu'/);
    process.env.TESSERA_BACKEND = 'metal';
    expect(() => backendChoice(undefined)).toThrow(/TESSERA_BACKEND=metal/);
  });

  it('the self-test passes on a correct backend and refuses a wrong one', async () => {
    await expect(selfTest(new CpuBackend())).resolves.toBeUndefined();
    await expect(selfTest(wrongGpu())).rejects.toThrow(/self-test matmul element 3/);
  });

  it('names the CPU backend and its threads in one line', () => {
    const b = new CpuBackend();
    expect(describeBackend(b)).toMatch(/^cpu \(WebAssembly SIMD, \d+ threads?\)$/);
  });
});
