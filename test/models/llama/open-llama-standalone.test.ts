import { describe, expect, it, vi } from 'vitest';

// Scripts such as bench/peers/write-gguf.ts open a Llama checkpoint without importing the composition
// root (src/register-all.ts). A fresh module graph has an empty family registry, as such a script does.
describe('openLlamaModel without the composition root', () => {
  it('opens the built-in model with no family registered', async () => {
    vi.resetModules();
    const registry = await import('../../../src/models/registry.js');
    const { openLlamaModel } = await import('../../../src/models/llama/llama-family.js');
    expect(registry.modelFamilies().length).toBe(0);
    const m = await openLlamaModel('models/builtin');
    try {
      expect(m.family).toBe('llama');
      expect(m.config.numLayers).toBeGreaterThan(0);
    } finally {
      await m.weights.close();
    }
  });

  it('refuses a checkpoint of another family by name', async () => {
    vi.resetModules();
    const { openLlamaModel } = await import('../../../src/models/llama/llama-family.js');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'tessera-t5-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 't5', architectures: ['T5Model'] }));
    writeFileSync(join(dir, 'model.safetensors'), safetensorsWithNoTensors());
    await expect(openLlamaModel(dir)).rejects.toThrow(/model_type 't5' is not a Llama-family model/);
  });
});

function safetensorsWithNoTensors(): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ __metadata__: { format: 'pt' } }).padEnd(16, ' '));
  const out = new Uint8Array(8 + header.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  return out;
}
