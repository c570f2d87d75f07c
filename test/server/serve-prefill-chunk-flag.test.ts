/**
 * `tessera serve --prefill-chunk-tokens`: registered with the engine's default, passed to the
 * engine's scheduler, and refused at 0 (no prompt could advance while anything decodes); and
 * `--prefill-itl-ratio`, off by default, giving the scheduler a measured budget, refused below 1.
 */
import { describe, expect, it } from 'vitest';
import { serveModel } from '../../src/cli/serve.js';
import { DEFAULT_PREFILL_CHUNK_TOKENS } from '../../src/engine/scheduler.js';
import { loadTestModel } from '../engine/test-model.js';
import { serveCommandOptions, TEST_SERVE_OPTIONS as base } from './serve-test-options.js';

describe('tessera serve --prefill-chunk-tokens', () => {
  it('is registered with the engine default', () => {
    const option = serveCommandOptions().find((o) => o.long === '--prefill-chunk-tokens');
    expect(option?.defaultValue).toBe(String(DEFAULT_PREFILL_CHUNK_TOKENS));
  });

  it('reaches the scheduler, and 0 is refused before anything starts', async () => {
    const server = await serveModel(await loadTestModel(), { ...base, prefillChunkTokens: '8' });
    try {
      expect(server.state.engine.scheduler.config.prefillChunkTokens).toBe(8);
    } finally {
      await server.close();
    }
    const unset = await serveModel(await loadTestModel(), base);
    try {
      expect(unset.state.engine.scheduler.config.prefillChunkTokens).toBe(DEFAULT_PREFILL_CHUNK_TOKENS);
    } finally {
      await unset.close();
    }
    await expect(serveModel(await loadTestModel(), { ...base, prefillChunkTokens: '0' })).rejects.toThrow(
      /--prefill-chunk-tokens/,
    );
  });

  it('--prefill-itl-ratio: off by default, a measured budget when set, refused below 1', async () => {
    expect(serveCommandOptions().find((o) => o.long === '--prefill-itl-ratio')?.defaultValue).toBeUndefined();
    const unset = await serveModel(await loadTestModel(), base);
    try {
      expect(unset.state.engine.scheduler.config.prefillBudget).toBeUndefined();
    } finally {
      await unset.close();
    }
    const server = await serveModel(await loadTestModel(), { ...base, prefillItlRatio: '2.5' });
    try {
      // nothing measured yet: the fixed chunk
      expect(server.state.engine.scheduler.config.prefillBudget?.(4)).toBe(DEFAULT_PREFILL_CHUNK_TOKENS);
    } finally {
      await server.close();
    }
    for (const bad of ['0.5', 'fast'])
      await expect(serveModel(await loadTestModel(), { ...base, prefillItlRatio: bad })).rejects.toThrow(
        /--prefill-itl-ratio/,
      );
  });
});
