/**
 * The ShareGPT-like request mixes of the serving benchmarks (bench/serve.ts, bench/nanoflow.ts),
 * generated (no dataset hub is reachable): prompt and output lengths log-normal, long-tailed like
 * ShareGPT's conversations, with medians and spreads taken at a 2048-token context and scaled to the
 * run's `maxTotal`. The default mix (SHAREGPT_LIKE):
 *
 *   prompt  median 200 tokens, σ 1.0 (of ln length)   ShareGPT prompts: median ~ 150–250, heavy tail
 *   output  median 160 tokens, σ 0.8                   ShareGPT answers: median ~ 150–250, lighter tail
 *
 * Both at least 4; a pair with prompt + output > maxTotal is redrawn (ShareGPT workloads filter such
 * conversations rather than clip them). Seeded: one seed gives one mix on every machine.
 *
 * Usage: node dist/bench/serving-workload.js [--requests N] [--max-total T] [--seed S]  (prints the mix as JSON)
 */
import { Rng } from '../src/util/rng.js';

export interface RequestShape {
  prompt: number;
  output: number;
}

/** A mix's log-normal medians and spreads, given at `atContext` tokens of context. */
export interface LengthMix {
  promptMedian: number;
  promptSigma: number;
  outputMedian: number;
  outputSigma: number;
  atContext: number;
}

export const SHAREGPT_LIKE: LengthMix = {
  promptMedian: 200,
  promptSigma: 1.0,
  outputMedian: 160,
  outputSigma: 0.8,
  atContext: 2048,
};

export function shareGptLikeWorkload(
  n: number,
  maxTotal: number,
  seed: number,
  mix: LengthMix = SHAREGPT_LIKE,
): RequestShape[] {
  const rng = new Rng(seed);
  // Box–Muller from the seeded uniform generator
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const scale = maxTotal / mix.atContext;
  const lognormal = (median: number, sigma: number) => Math.round(median * scale * Math.exp(sigma * normal()));
  const out: RequestShape[] = [];
  while (out.length < n) {
    const prompt = Math.max(4, lognormal(mix.promptMedian, mix.promptSigma));
    const output = Math.max(4, lognormal(mix.outputMedian, mix.outputSigma));
    if (prompt + output <= maxTotal) out.push({ prompt, output });
  }
  return out;
}

/** Arrival times (s from the first): Poisson at `rate` requests/s, or all at 0 for Infinity. */
export function poissonArrivals(n: number, rate: number, seed: number): number[] {
  const rng = new Rng(seed);
  const t = [0];
  for (let i = 1; i < n; i++) t.push(rate === Infinity ? 0 : t[i - 1]! - Math.log(1 - rng.next()) / rate);
  return t;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const shapes = shareGptLikeWorkload(arg('--requests', 64), arg('--max-total', 2048), arg('--seed', 2026));
  console.log(JSON.stringify({ parameters: SHAREGPT_LIKE, requests: shapes }));
}
