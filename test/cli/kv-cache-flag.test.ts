/**
 * `--kv-cache f16|int8|int4` on `tessera serve`, `run` and `chat`: checked, and handed to the
 * model loader as the runner's kvCache.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseKvCache } from '../../src/cli/kv-cache-flag.js';
import { registerRunCommands } from '../../src/cli/run.js';
import { registerServeCommand } from '../../src/cli/serve.js';

describe('--kv-cache', () => {
  it('takes f16, int8 and int4 and refuses anything else', () => {
    expect(parseKvCache(undefined)).toBeUndefined();
    for (const d of ['f16', 'int8', 'int4']) expect(parseKvCache(d)).toBe(d);
    expect(() => parseKvCache('int2')).toThrow(/--kv-cache must be one of f16, int8, int4/);
  });

  it('reaches the loader from tessera serve', async () => {
    const seen: unknown[] = [];
    const program = new Command().exitOverride();
    registerServeCommand(program, async (_path, _backend, _lora, extra) => {
      seen.push(extra);
      throw new Error('stop after the load call');
    });
    await expect(program.parseAsync(['serve', '--kv-cache', 'int4'], { from: 'user' })).rejects.toThrow(/stop after/);
    expect(seen).toEqual([{ kvCache: 'int4' }]);
    await expect(program.parseAsync(['serve', '--kv-cache', 'fp8'], { from: 'user' })).rejects.toThrow(/--kv-cache/);
  });

  it('is an option of run and chat', () => {
    const program = new Command();
    registerRunCommands(program);
    for (const name of ['run', 'chat']) {
      const o = program.commands.find((c) => c.name() === name)!.options.find((x) => x.long === '--kv-cache');
      expect(o?.defaultValue, name).toBe('f16');
    }
  });
});
