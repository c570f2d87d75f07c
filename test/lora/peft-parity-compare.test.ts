/**
 * bench/lora-parity.ts's comparison, fed rows in peft_parity.py's JSON layout whose logits come from
 * checkpoints with each row's adapter merged in float64 (merged-weights.ts) instead of peft: a
 * mixed batch of two adapters of different ranks and base rows must match them, and a reference
 * off by 5% of max|logit| in one row must show as that row's error.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type PeftRows, compareWithPeft, parityPages } from '../../bench/lora-parity-compare.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { loadPeftAdapter } from '../../src/lora/peft-adapter.js';
import { writeRandomPeftAdapter } from '../../src/lora/random-adapter.js';
import { loraShapesOf } from '../../src/models/llama/adapter-graph.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { mergedSource } from './merged-weights.js';

const dir = new URL('../../models/builtin/', import.meta.url).pathname;
const SEED = 4177;
const T = 5;
const tmp = mkdtempSync(join(tmpdir(), 'tessera-lora-parity-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the peft parity comparison (bench/lora-parity.ts)', () => {
  it('matches merged float64 references for a mixed batch and flags a wrong row', async () => {
    console.log(`[lora parity] adapter seeds ${SEED}, ${SEED + 1}`);
    const backend = new CpuBackend();
    const model = await openLlamaModel(dir);
    const shapes = loraShapesOf(model.config);
    await writeRandomPeftAdapter(join(tmp, 'p'), shapes, {
      rank: 4,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
      seed: SEED,
    });
    await writeRandomPeftAdapter(join(tmp, 'f'), shapes, {
      rank: 8,
      targets: ['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj'],
      seed: SEED + 1,
      useRslora: true,
    });
    const adapters = [
      await loadPeftAdapter(join(tmp, 'p'), 'p', shapes),
      await loadPeftAdapter(join(tmp, 'f'), 'f', shapes),
    ];
    const prompts = (
      JSON.parse(readFileSync(`${dir}reference.json`, 'utf8')) as { references: { ids: number[] }[] }
    ).references
      .filter((r) => r.ids.length >= T)
      .map((r) => r.ids.slice(0, T));
    const names = ['p', null, 'f'] as const;
    const rowsOf = prompts.slice(0, 2).flatMap((ids) => names.map((adapter) => ({ adapter, tokens: ids })));
    const opts = {
      backend,
      actDtype: 'f32' as const,
      weightDtype: 'f32' as const,
      maxTokens: T,
      maxSeqs: 1,
      numPages: 1,
      pageSize: T,
    };
    const refs = new Map<string | null, LlamaRunner>([[null, await LlamaRunner.load(model, opts)]]);
    for (const a of adapters)
      refs.set(a.name, await LlamaRunner.load({ config: model.config, weights: mergedSource(model.weights, a) }, opts));
    const rows: PeftRows['rows'] = [];
    for (const r of rowsOf) {
      const logits: number[][] = [];
      for (let t = 0; t < T; t++) {
        const out = await refs.get(r.adapter)!.forward({ seqs: [{ tokens: [r.tokens[t]!], start: t, pages: [0] }] });
        logits.push(Array.from(out));
      }
      rows.push({ ...r, logits });
    }
    const ref: PeftRows = { base: dir, adapters: { p: 'p', f: 'f' }, peft: 'none', torch: 'none', rows };
    const served = await LlamaRunner.load(model, { ...opts, ...parityPages(ref), lora: { slots: 2, rmax: 8 } });
    for (const a of adapters) served.adapters!.add(a);
    const good = await compareWithPeft(served, ref);
    console.log(
      `[lora parity] token by token ${Array.from(good.tokenByToken, (e) => e.toExponential(1))}, prefill ${Array.from(good.prefillChunk, (e) => e.toExponential(1))}`,
    );
    for (const e of [...good.tokenByToken, ...good.prefillChunk]) expect(e).toBeLessThan(1e-5);

    const row = rows[2]!.logits[T - 1]!;
    const peak = Math.max(...row.map(Math.abs));
    row[7] = row[7]! + 0.05 * peak;
    const bad = await compareWithPeft(served, ref);
    expect(bad.prefillChunk[2]).toBeGreaterThan(0.04);
    expect(bad.tokenByToken[2]).toBeGreaterThan(0.04);
    expect(bad.tokenByToken[1]).toBeLessThan(1e-5);
    served.destroy();
    for (const r of refs.values()) r.destroy();
    await model.weights.close();
  }, 300_000);
});
