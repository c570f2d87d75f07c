import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';

describe('CPU backend views', () => {
  it('share storage under another shape and check the element count', async () => {
    const b = new CpuBackend();
    const x = b.alloc({ dtype: 'f32', shape: [2, 6] });
    b.write(
      x,
      Float32Array.from({ length: 12 }, (_, i) => i),
    );
    const v = b.view(x, [3, 4]);
    b.write(
      v,
      Float32Array.from({ length: 12 }, (_, i) => 10 * i),
    );
    expect((await b.read(x))[11]).toBe(110);
    expect(() => b.view(x, [5])).toThrow(/5 elements, the tensor 12/);
  });
});
