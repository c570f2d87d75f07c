/**
 * The serving benchmark's exchange with its arrival-driven peers, with no GPU or native module:
 * the workload file that `serve.js --write-workload` writes and the peers read, the arrival
 * schedule a peer replays from it, the peer JSON they write back (bench/anchors/hf_serve_cb.py,
 * bench/peers/llama-cpp-serve.ts), and the checks and metrics that turn each peer's traces into
 * figures beside ours.
 *
 * Peer JSON: { card, runId, name, requests: [[prompt, output]...], rates: { "inf" | "<rate>":
 * [{ arrival, tokens: [s...] }] }, skipped?: { "<rate>": reason } }, seconds from the rate's start.
 */
import { nearestRank } from '../src/util/nearest-rank.js';

/** `serve.js --write-workload`: request lengths and, per rate key, each request's arrival (s). */
export interface ServeWorkload {
  seed: number;
  maxTotal: number;
  batch: number;
  requests: [number, number][];
  arrivals: Record<string, number[]>;
}

/** What each request saw, in seconds from the rate's start. */
export interface Trace {
  arrival: number;
  /** Time of each output token. */
  tokens: number[];
}

/** An arrival-driven peer's file. */
export interface ArrivalPeer {
  card: string;
  runId?: string | null;
  name: string;
  requests: [number, number][];
  rates: Record<string, Trace[]>;
  /** Rates the peer did not finish, with why (a time budget, a failed context). */
  skipped?: Record<string, string>;
}

export interface Metrics {
  tokPerS: number;
  reqPerS: number;
  ttftP50: number;
  ttftP99: number;
  itlP50: number;
  itlP99: number;
  normP50: number;
}

/** One request of a rate's schedule, in arrival order. */
export interface Arrival {
  index: number;
  at: number;
  prompt: number;
  output: number;
}

/** A rate's key in the workload and peer files. */
export function rateKey(rate: number): string {
  return rate === Infinity ? 'inf' : String(rate);
}

/** Nearest-rank percentile (q in [0, 1]); NaN for no samples. */
export function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  return nearestRank(
    [...xs].sort((a, b) => a - b),
    q,
  );
}

/** Throughput over the span to the last token; latencies in ms from each request's intended arrival. */
export function metrics(traces: readonly Trace[]): Metrics {
  const end = Math.max(...traces.map((t) => t.tokens[t.tokens.length - 1]!));
  const outTokens = traces.reduce((a, t) => a + t.tokens.length, 0);
  const ttft = traces.map((t) => t.tokens[0]! - t.arrival);
  const itl = traces.flatMap((t) => t.tokens.slice(1).map((x, i) => x - t.tokens[i]!));
  const norm = traces.map((t) => (t.tokens[t.tokens.length - 1]! - t.arrival) / t.tokens.length);
  const ms = 1000;
  return {
    tokPerS: outTokens / end,
    reqPerS: traces.length / end,
    ttftP50: percentile(ttft, 0.5) * ms,
    ttftP99: percentile(ttft, 0.99) * ms,
    itlP50: percentile(itl, 0.5) * ms,
    itlP99: percentile(itl, 0.99) * ms,
    normP50: percentile(norm, 0.5) * ms,
  };
}

/** The workload file, checked: every rate has one arrival per request, times finite and not decreasing. */
export function parseWorkload(json: string, source = 'workload'): ServeWorkload {
  const w = JSON.parse(json) as Partial<ServeWorkload>;
  if (!Array.isArray(w.requests) || w.requests.length === 0) throw new Error(`${source}: no requests`);
  for (const [i, r] of w.requests.entries())
    if (!Array.isArray(r) || r.length !== 2 || !r.every((n) => Number.isInteger(n) && n > 0))
      throw new Error(`${source}: request ${i} is not [prompt, output] positive integers`);
  if (typeof w.arrivals !== 'object' || w.arrivals === null) throw new Error(`${source}: no arrivals`);
  for (const [key, at] of Object.entries(w.arrivals)) {
    if (!Array.isArray(at) || at.length !== w.requests.length)
      throw new Error(
        `${source}: rate ${key} has ${Array.isArray(at) ? at.length : 'no'} arrivals for ${w.requests.length} requests`,
      );
    if (at.some((t, i) => !Number.isFinite(t) || t < 0 || (i > 0 && t < at[i - 1]!)))
      throw new Error(`${source}: rate ${key}'s arrivals are not finite non-decreasing times`);
  }
  return {
    seed: w.seed ?? 0,
    maxTotal: w.maxTotal ?? Math.max(...w.requests.map(([p, o]) => p + o)),
    batch: w.batch ?? 0,
    requests: w.requests,
    arrivals: w.arrivals,
  };
}

/** Rate `key`'s requests in the order a server admits them: by arrival, ties by index. */
export function scheduleOf(w: ServeWorkload, key: string): Arrival[] {
  const at = w.arrivals[key];
  if (!at)
    throw new Error(`the workload has no arrivals for rate ${key} (it has ${Object.keys(w.arrivals).join(', ')})`);
  return w.requests
    .map(([prompt, output], index) => ({ index, at: at[index]!, prompt, output }))
    .sort((a, b) => a.at - b.at || a.index - b.index);
}

/**
 * The most requests of the workload that can be in flight at once, over `keys`: with every request
 * arriving at 0 that is all of them; at a finite rate an upper bound is still every request (a slow
 * server lets them pile up), so this is the request count unless `keys` is empty. Capped by `cap`.
 */
export function sequencesFor(w: ServeWorkload, keys: readonly string[], cap: number): number {
  return Math.max(1, Math.min(keys.length ? w.requests.length : 1, cap));
}

/** Where the peer's file can be used for this run: same run id, card (short name) and workload; else why not. */
export function peerWhyNull(
  peer: ArrivalPeer,
  source: string,
  here: { runId: string | null; card: string; cardShort: (c: string) => string; requests: readonly [number, number][] },
): string | null {
  if (!here.runId || peer.runId !== here.runId)
    return `${peer.name}'s figures come from run ${peer.runId ?? 'unknown'}, not this run (${here.runId ?? 'BENCH_RUN_ID unset'})`;
  if (here.cardShort(peer.card) !== here.cardShort(here.card))
    return `${peer.name} ran on ${peer.card}, this run on ${here.card}`;
  if (
    peer.requests.length !== here.requests.length ||
    peer.requests.some(([p, o], i) => p !== here.requests[i]![0] || o !== here.requests[i]![1])
  )
    return `${peer.name} ran another workload (${source})`;
  return null;
}

/** Why a peer's traces at one rate can't be used (not run, a request short of its tokens), or null. */
export function peerTracesProblem(
  peer: ArrivalPeer,
  key: string,
  label: string,
  requests: readonly [number, number][],
): string | null {
  const traces = peer.rates[key];
  if (!traces)
    return `${peer.name} did not run ${label} in this run${peer.skipped?.[key] ? ` (${peer.skipped[key]})` : ''}`;
  if (traces.length !== requests.length)
    return `${peer.name} has ${traces.length} traces at ${label} for ${requests.length} requests`;
  const short = traces.findIndex((t, i) => !t || t.tokens.length !== requests[i]![1]);
  return short >= 0
    ? `${peer.name}'s request ${short} at ${label} did not return its ${requests[short]![1]} tokens`
    : null;
}

/** One peer's figures at one rate, or null with the reason. */
export interface PeerAtRate {
  name: string;
  metrics: Metrics | null;
  whyNull: string | null;
}

/** A loaded `--peer` file: the peer, or (file missing, unreadable, another run) only why not. */
export interface PeerSource {
  source: string;
  peer: ArrivalPeer | null;
  whyNull: string | null;
}

/** Every `--peer`'s figures at one rate, in the order given. */
export function peersAtRate(
  peers: readonly PeerSource[],
  key: string,
  label: string,
  requests: readonly [number, number][],
): PeerAtRate[] {
  return peers.map(({ source, peer, whyNull }) => {
    const name = peer?.name ?? source;
    const why = whyNull ?? (peer ? peerTracesProblem(peer, key, label, requests) : `no peer file ${source}`);
    return { name, metrics: why ? null : metrics(peer!.rates[key]!), whyNull: why };
  });
}
