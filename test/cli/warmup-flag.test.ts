/** `tessera serve --warmup`: which chat models are warmed and how, and a clear error for a bad value. */
import { describe, expect, it } from 'vitest';
import { type LoadedServedModel, warmUpModels } from '../../src/cli/serve.js';

function chat(calls: unknown[]): LoadedServedModel {
  return {
    modelName: 'm',
    tokenizer: {} as never,
    runner: {
      warmUp: async (o?: { softwareToo?: boolean }) => {
        calls.push(o);
        return { steps: 1, ms: 1 };
      },
    } as never,
  };
}

describe('--warmup', () => {
  it('warms chat models, on a software adapter only when on, and nothing when off', async () => {
    const calls: unknown[] = [];
    const embedding = {
      kind: 'embedding',
      modelName: 'e',
      embedder: {},
      tokenizer: {},
    } as unknown as LoadedServedModel;
    await warmUpModels([chat(calls), embedding], 'auto');
    await warmUpModels([chat(calls)], 'on');
    await warmUpModels([chat(calls)], 'off');
    expect(calls).toEqual([{ softwareToo: false }, { softwareToo: true }]);
  });

  it('refuses other values', async () => {
    await expect(warmUpModels([], 'yes')).rejects.toThrow(/--warmup takes auto, on or off, got 'yes'/);
  });
});
