/**
 * The pipeline cache finds a keyed shader without generating its WGSL, compiles one pipeline per
 * distinct shader however many keys name it, and — with `verifyKeys`, which the test backends turn
 * on — throws when one key yields two different shaders (a key that leaves out a parameter of the
 * generator would otherwise run a stale pipeline).
 */
import { describe, expect, it } from 'vitest';
import { PipelineCache, ShaderKeyCollisionError } from '../../src/backends/webgpu/pipeline-cache.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

/** A trivial shader that writes `value`; the generator counts its calls. */
function shader(value: number, calls: { n: number }): () => string {
  return () => {
    calls.n++;
    return `@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(1)
fn main() { y[0] = ${value}u; }`;
  };
}

describe.skipIf(!gpu)(`pipeline cache keys${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('the test backends verify keys', () => {
    expect(gpu!.pipelines.verifyKeys).toBe(true);
  });

  it('compiles once per key and generates the WGSL only on the miss', async () => {
    const cache = new PipelineCache(gpu!.device);
    const calls = { n: 0 };
    const spec = { label: 'test.once', key: 'test.once|1', wgsl: shader(1, calls), access: ['rw'] as const };
    const first = cache.get(spec);
    for (let i = 0; i < 5; i++) expect(cache.get(spec)).toBe(first);
    expect(cache.compiled).toBe(1);
    expect(calls.n).toBe(1);
    await cache.checkErrors();
  });

  it('shares one pipeline between keys that yield the same WGSL', async () => {
    const cache = new PipelineCache(gpu!.device);
    const calls = { n: 0 };
    const a = cache.get({ label: 'test.a', key: 'test|M=16', wgsl: shader(2, calls), access: ['rw'] });
    const b = cache.get({ label: 'test.b', key: 'test|M=32', wgsl: shader(2, calls), access: ['rw'] });
    expect(b).toBe(a);
    expect(cache.compiled).toBe(1);
    expect(calls.n).toBe(2);
    await cache.checkErrors();
  });

  it('with verifyKeys, regenerates on a hit and throws when the key names another shader', async () => {
    const cache = new PipelineCache(gpu!.device);
    cache.verifyKeys = true;
    const calls = { n: 0 };
    cache.get({ label: 'test.v', key: 'test.v', wgsl: shader(3, calls), access: ['rw'] });
    cache.get({ label: 'test.v', key: 'test.v', wgsl: shader(3, calls), access: ['rw'] });
    expect(calls.n).toBe(2);
    expect(() => cache.get({ label: 'test.v', key: 'test.v', wgsl: shader(4, calls), access: ['rw'] })).toThrow(
      ShaderKeyCollisionError,
    );
    expect(cache.compiled).toBe(1);
    await cache.checkErrors();
  });

  it('without verifyKeys, does not generate on a hit, and still refuses a key with another binding layout', async () => {
    const cache = new PipelineCache(gpu!.device);
    const calls = { n: 0 };
    cache.get({ label: 'test.l', key: 'test.l', wgsl: shader(5, calls), access: ['rw'] });
    expect(cache.get({ label: 'test.l', key: 'test.l', wgsl: shader(6, calls), access: ['rw'] })).toBeDefined();
    expect(calls.n).toBe(1);
    expect(() => cache.get({ label: 'test.l', key: 'test.l', wgsl: shader(5, calls), access: ['read'] })).toThrow(
      /binding accesses differ/,
    );
    await cache.checkErrors();
  });

  it('finds an unkeyed shader by its text', async () => {
    const cache = new PipelineCache(gpu!.device);
    const text = shader(7, { n: 0 })();
    const a = cache.get({ label: 'test.t', wgsl: text, access: ['rw'] });
    expect(cache.get({ label: 'test.t2', wgsl: `${text}`, access: ['rw'] })).toBe(a);
    expect(cache.compiled).toBe(1);
    await cache.checkErrors();
  });
});
