/**
 * The engine's GPU-resident decode loop, on the CPU: a toy runner that implements `submitDecode`
 * (its ids chained from the previous submitted step, results arriving asynchronously, several in
 * flight) must give exactly what the same runner gives one step at a time — same tokens, texts and
 * finish reasons — with stop tokens, stop strings and length limits that end sequences while
 * further steps are in flight (their tokens must be discarded), requests arriving mid-run, aborts,
 * and seeded sampling.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import type { DecodeSeq, DeviceSampleRow, ForwardBatch } from '../../src/engine/model-runner.js';
import type { RequestResult } from '../../src/engine/request.js';
import { sampleToken } from '../../src/engine/sampler.js';
import { resolveSamplingParams, type SamplingParams } from '../../src/engine/sampling-params.js';
import { loadTestTokenizer } from './test-model.js';
import { ToyRunner, type ToyRunnerOptions } from './toy-runner.js';

/** Device sampling with the host sampler's semantics: the draw is a function of (seed, stream, step). */
function drawRow(logits: Float32Array, r: DeviceSampleRow): number {
  const params = resolveSamplingParams({
    temperature: r.temperature,
    topK: r.topK,
    topP: r.topP,
    minP: r.minP,
    seed: r.seed,
  });
  return sampleToken(logits, params, {
    seen: new Set(),
    outputCounts: new Map(),
    seed: r.seed,
    stream: r.stream,
    step: r.step,
    mask: null,
  }).token;
}

/** The toy runner with device sampling (one step at a time). */
class DeviceSamplingToy extends ToyRunner {
  private last: Float32Array<ArrayBufferLike> = new Float32Array(0);
  override async forward(batch: ForwardBatch): Promise<Float32Array> {
    const logits = await super.forward(batch);
    this.last = logits;
    return logits;
  }
  async sampleOnDevice(rows: readonly DeviceSampleRow[]): Promise<Int32Array> {
    const v = this.vocabSize;
    return Int32Array.from(rows, (r) => drawRow(this.last.subarray(r.row * v, (r.row + 1) * v), r));
  }
}

/** …and with `submitDecode`: ids chain on the "device", results resolve later, out of the caller's sight. */
class ResidentToy extends DeviceSamplingToy {
  residentSteps = 0;
  maxInFlight = 0;
  private inFlight = 0;
  private chained: Int32Array | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  submitDecode(
    seqs: readonly DecodeSeq[],
    tokens: Int32Array | null,
    rows: readonly DeviceSampleRow[],
  ): Promise<Int32Array> {
    if (tokens === null && this.chained?.length !== seqs.length)
      throw new Error('resident toy: no device ids of this batch to continue from');
    const input = tokens ?? this.chained!;
    // computed in submission order, as a GPU queue would; the ids of step k feed step k+1
    const out = Int32Array.from(seqs, () => -1);
    this.chained = out;
    this.residentSteps++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const step = this.queue.then(async () => {
      await new Promise((r) => setTimeout(r, 1));
      const logits = await this.forward({
        seqs: seqs.map((s, i) => ({ tokens: [input[i]!], start: s.start, pages: s.pages })),
      });
      const v = this.vocabSize;
      rows.forEach((r, i) => (out[i] = drawRow(logits.subarray(i * v, (i + 1) * v), r)));
      this.inFlight--;
      return out;
    });
    this.queue = step;
    return step;
  }
}

function toyOptions(): ToyRunnerOptions {
  const { tokens } = loadTestTokenizer().vocabulary();
  const tokenBias: Record<number, number> = { 0: -30, 1: -30, 2: -30 };
  tokens.forEach((s, id) => {
    if (id > 2 && !/^[\x21-\x7eĠ]+$/.test(s)) tokenBias[id] = -8;
  });
  return { vocabSize: tokens.length, tokenBias };
}

const prompts = [
  'The quick brown fox',
  'Once upon a time there was',
  'In the beginning',
  'She walked into the room and',
  'A',
  'Numbers: 1, 2, 3,',
];

async function serve(
  runner: ToyRunner,
  params: (i: number) => Partial<SamplingParams>,
  opts: { late?: number[]; abort?: number[] } = {},
): Promise<(RequestResult | string)[]> {
  const tokenizer = loadTestTokenizer();
  const engine = new Engine(runner, tokenizer, { seed: 3 });
  const results = await Promise.all(
    prompts.map(async (p, i) => {
      if (opts.late?.includes(i)) await new Promise((r) => setTimeout(r, 15 * i));
      const req = await engine.submit(tokenizer.encode(p), params(i));
      if (opts.abort?.includes(i)) setTimeout(() => req.abort(), 8);
      return req.result;
    }),
  );
  await engine.shutdown();
  return results;
}

const summary = (rs: (RequestResult | string)[]) =>
  rs.map((r) =>
    typeof r === 'string'
      ? r
      : r.choices.map((c) => ({ text: c.text, tokens: c.tokens.map((t) => t.id), finish: c.finishReason })),
  );

describe('GPU-resident decode loop in the engine (toy runner)', () => {
  it('gives the one-step-at-a-time tokens with stop tokens, stop strings and lengths ending sequences mid-flight', async () => {
    // stop conditions picked from a first run so that they fire in the middle of the decode
    const base = await serve(new DeviceSamplingToy(toyOptions()), () => ({ temperature: 0, maxTokens: 30 }));
    const outs = base.map((r) => (r as RequestResult).choices[0]!.tokens.map((t) => t.id));
    const texts = base.map((r) => (r as RequestResult).choices[0]!.text);
    const params = (i: number): Partial<SamplingParams> => ({
      temperature: i % 2 ? 0.9 : 0,
      seed: 100 + i,
      maxTokens: 5 + 4 * i,
      ...(i === 0 ? { stopTokenIds: [outs[0]![7]!] } : {}),
      ...(i === 2 && texts[2]!.length > 12 ? { stop: [texts[2]!.slice(8, 11)] } : {}),
    });
    const plain = new DeviceSamplingToy(toyOptions());
    const resident = new ResidentToy(toyOptions());
    const want = summary(await serve(plain, params));
    const got = summary(await serve(resident, params));
    expect(got).toEqual(want);
    expect(resident.residentSteps).toBeGreaterThan(10);
    expect(resident.maxInFlight).toBeGreaterThanOrEqual(2);
    // every finish reason is exercised
    const finishes = new Set(want.flatMap((r) => (typeof r === 'string' ? [] : r.map((c) => c.finish))));
    expect([...finishes].sort()).toEqual(['length', 'stop']);
  });

  it('admits requests that arrive while the loop runs, and ends aborted ones', async () => {
    const params = (i: number): Partial<SamplingParams> => ({ temperature: 0, maxTokens: 12 + i });
    const resident = new ResidentToy(toyOptions());
    const got = await serve(resident, params, { late: [3, 4, 5], abort: [1] });
    const want = await serve(new DeviceSamplingToy(toyOptions()), params, { late: [3, 4, 5], abort: [1] });
    const aborted = got[1] as RequestResult;
    expect(aborted.choices[0]!.finishReason).toBe('abort');
    // the others do not depend on batch-mates or timing: same tokens as one step at a time
    for (const i of [0, 2, 3, 4, 5]) expect(summary([got[i]!])).toEqual(summary([want[i]!]));
    expect(resident.residentSteps).toBeGreaterThan(0);
  });
});
