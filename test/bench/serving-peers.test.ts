/**
 * The serving benchmark's peer exchange, pure TypeScript (no GPU, no native module): the workload
 * file read into arrival schedules, peer files checked against this run, and every peer's
 * figures at a rate, against latencies worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { peerFigure } from '../../bench/results.js';
import {
  type ArrivalPeer,
  metrics,
  parseWorkload,
  peersAtRate,
  peerWhyNull,
  rateKey,
  scheduleOf,
  sequencesFor,
} from '../../bench/serving-peers.js';

const requests: [number, number][] = [
  [10, 3],
  [20, 2],
  [5, 4],
];
const workloadJson = JSON.stringify({
  seed: 7,
  maxTotal: 64,
  batch: 16,
  requests,
  arrivals: { inf: [0, 0, 0], '2': [0, 0.5, 0.5] },
});

/** Three requests, tokens at hand-picked times (s). */
const traces = [
  { arrival: 0, tokens: [0.1, 0.2, 0.3] },
  { arrival: 0.5, tokens: [0.7, 1.0] },
  { arrival: 0.5, tokens: [0.6, 0.8, 0.9, 2.0] },
];

const here = { runId: 'run-1', card: 'NVIDIA H100 80GB HBM3', cardShort: (c: string) => c.split(' ')[1]!, requests };
const peer = (over: Partial<ArrivalPeer>): ArrivalPeer => ({
  card: 'NVIDIA H100 80GB HBM3',
  runId: 'run-1',
  name: 'peer A',
  requests,
  rates: { '2': traces },
  ...over,
});

describe('workload → schedule', () => {
  it('reads the file serve.js writes and orders each rate by arrival, ties by index', () => {
    const w = parseWorkload(workloadJson);
    expect(w.requests).toEqual(requests);
    expect(scheduleOf(w, 'inf').map((a) => a.index)).toEqual([0, 1, 2]);
    const late = parseWorkload(JSON.stringify({ ...JSON.parse(workloadJson), arrivals: { '1': [0, 0.25, 0.25] } }));
    expect(scheduleOf(late, '1')).toEqual([
      { index: 0, at: 0, prompt: 10, output: 3 },
      { index: 1, at: 0.25, prompt: 20, output: 2 },
      { index: 2, at: 0.25, prompt: 5, output: 4 },
    ]);
    expect(() => scheduleOf(w, '8')).toThrow(/no arrivals for rate 8/);
    expect(rateKey(Infinity)).toBe('inf');
    expect(rateKey(0.5)).toBe('0.5');
  });

  it('refuses arrivals that do not match the requests or go backwards', () => {
    const bad = (arrivals: Record<string, number[]>) => JSON.stringify({ ...JSON.parse(workloadJson), arrivals });
    expect(() => parseWorkload(bad({ inf: [0, 0] }))).toThrow(/2 arrivals for 3 requests/);
    expect(() => parseWorkload(bad({ '2': [0, 1, 0.5] }))).toThrow(/non-decreasing/);
    expect(() => parseWorkload(JSON.stringify({ requests: [[3, 0]], arrivals: {} }))).toThrow(/positive integers/);
  });

  it('sizes the parallel sequences as every request, capped', () => {
    const w = parseWorkload(workloadJson);
    expect(sequencesFor(w, ['inf', '2'], 64)).toBe(3);
    expect(sequencesFor(w, ['inf'], 2)).toBe(2);
  });
});

describe('peer figures', () => {
  it('metrics: throughput over the last token, TTFT and ITL from the intended arrival', () => {
    const m = metrics(traces);
    // 9 tokens and 3 requests by t = 2.0 s
    expect(m.tokPerS).toBeCloseTo(4.5, 12);
    expect(m.reqPerS).toBeCloseTo(1.5, 12);
    // TTFT 0.1, 0.2, 0.1 s → nearest-rank p50 0.1 s, p99 0.2 s
    expect(m.ttftP50).toBeCloseTo(100, 9);
    expect(m.ttftP99).toBeCloseTo(200, 9);
    // gaps 0.1 0.1 | 0.3 | 0.2 0.1 1.1 → sorted 0.1 0.1 0.1 0.2 0.3 1.1: p50 0.1, p99 1.1
    expect(m.itlP50).toBeCloseTo(100, 9);
    expect(m.itlP99).toBeCloseTo(1100, 9);
    // end-to-end per token 0.3/3, 0.5/2, 1.5/4 → 0.1, 0.25, 0.375: p50 0.25 s
    expect(m.normP50).toBeCloseTo(250, 9);
  });

  it('uses a peer file only from this run, this card and this workload', () => {
    expect(peerWhyNull(peer({}), 'a.json', here)).toBeNull();
    expect(peerWhyNull(peer({ runId: 'old' }), 'a.json', here)).toMatch(/from run old, not this run \(run-1\)/);
    expect(peerWhyNull(peer({}), 'a.json', { ...here, runId: null })).toMatch(/BENCH_RUN_ID unset/);
    expect(peerWhyNull(peer({ card: 'NVIDIA A100-SXM4-80GB' }), 'a.json', here)).toMatch(/ran on NVIDIA A100/);
    expect(
      peerWhyNull(
        peer({
          requests: [
            [10, 3],
            [20, 2],
            [5, 5],
          ],
        }),
        'a.json',
        here,
      ),
    ).toMatch(/another workload/);
  });

  it('every peer at a rate: figures where it ran in full, else null with why', () => {
    const a = peer({});
    const b = peer({ name: 'peer B', rates: {}, skipped: { '2': 'cut at --budget-s 220' } });
    const c = peer({ name: 'peer C', rates: { '2': [traces[0]!, { arrival: 0.5, tokens: [0.7] }, traces[2]!] } });
    const sources = [
      { source: 'a.json', peer: a, whyNull: null },
      { source: 'b.json', peer: b, whyNull: null },
      { source: 'c.json', peer: c, whyNull: null },
      { source: 'd.json', peer: null, whyNull: 'd.json was not written in this run' },
    ];
    const at = peersAtRate(sources, '2', '2 req/s', requests);
    expect(at.map((p) => p.name)).toEqual(['peer A', 'peer B', 'peer C', 'd.json']);
    expect(at[0]!.metrics).toEqual(metrics(traces));
    expect(at[0]!.whyNull).toBeNull();
    expect(at[1]!.metrics).toBeNull();
    expect(at[1]!.whyNull).toBe('peer B did not run 2 req/s in this run (cut at --budget-s 220)');
    expect(at[2]!.whyNull).toBe("peer C's request 1 at 2 req/s did not return its 2 tokens");
    expect(at[3]!.whyNull).toBe('d.json was not written in this run');
    expect(peersAtRate(sources, 'inf', 'all at once', requests)[0]!.whyNull).toBe(
      'peer A did not run all at once in this run',
    );
  });

  it('a peer figure carries its ratio the DESIGN.md way, or null with its reason', () => {
    expect(peerFigure('p', 50, null, 100, true)).toEqual({ name: 'p', value: 50, ratio: 2, whyNull: null });
    expect(peerFigure('p', 50, null, 100, false)).toEqual({ name: 'p', value: 50, ratio: 0.5, whyNull: null });
    expect(peerFigure('p', null, 'not run', 100, true)).toEqual({
      name: 'p',
      value: null,
      ratio: null,
      whyNull: 'not run',
    });
  });
});
