/**
 * `tessera serve --nano-batches auto|N|off` and `--nano-plan FILE`: registered off by default, read
 * into the engine's options, and refused when malformed or when the plan file was searched for
 * another model.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nanoOptions } from '../../src/cli/serve.js';
import { NanoPlanCache, nanoPlanKey } from '../../src/engine/nano-search.js';
import { serveCommandOptions, TEST_SERVE_OPTIONS as base } from './serve-test-options.js';

function planFile(model: string): string {
  const cache = new NanoPlanCache(nanoPlanKey(model, 'lavapipe'), {
    gemm: [[1024, 1024]],
    attention: [[1024, 1024]],
    attentionSaturation: 0.25,
    stageMs: 0,
  });
  const file = join(mkdtempSync(join(tmpdir(), 'nano-plan-')), 'plan.json');
  writeFileSync(file, JSON.stringify(cache));
  return file;
}

describe('tessera serve --nano-batches', () => {
  it('is registered, off by default', () => {
    const options = serveCommandOptions();
    expect(options.find((o) => o.long === '--nano-batches')?.defaultValue).toBe('off');
    expect(options.find((o) => o.long === '--nano-plan')).toBeDefined();
  });

  it('reads off, a count and auto with a plan of this model', () => {
    expect(nanoOptions(base, 'm')).toEqual({});
    expect(nanoOptions({ ...base, nanoBatches: 'off' }, 'm')).toEqual({});
    expect(nanoOptions({ ...base, nanoBatches: '3' }, 'm')).toEqual({ nanoBatches: 3 });
    const auto = nanoOptions({ ...base, nanoBatches: 'auto', nanoPlan: planFile('m') }, 'm');
    expect(auto.nanoBatches).toBe('auto');
    expect(auto.nanoPlanner!(400, 0)).toBe(4);
  });

  it('refuses a bad count, auto without a plan, and a plan of another model', () => {
    expect(() => nanoOptions({ ...base, nanoBatches: '0' }, 'm')).toThrow(/--nano-batches/);
    expect(() => nanoOptions({ ...base, nanoBatches: 'two' }, 'm')).toThrow(/--nano-batches/);
    expect(() => nanoOptions({ ...base, nanoBatches: 'auto' }, 'm')).toThrow(/--nano-plan/);
    expect(() => nanoOptions({ ...base, nanoBatches: 'auto', nanoPlan: planFile('other') }, 'm')).toThrow(
      /searched for other@lavapipe/,
    );
  });
});
