/** The bench index lists every benchmark program in bench/ (a new one cannot be left out of it). */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BENCHES, indexText } from '../../bench/run-all.js';

// modules the benchmarks share, not programs
const LIBRARIES = [
  'attention-common',
  'results',
  'verify',
  'run-all',
  'skinny-variants',
  'telerag-data',
  'telerag-traffic',
  'decode-loop',
  'serving-workload',
  'serving-driver',
  'serving-peers',
  'lora-bench',
  'lora-random',
  'lora-parity-compare',
  'lora-plan',
  'st-reference',
  'telerag-pipelines',
  'telerag-store',
  'sparse-template-rgcn',
  'sparse-template-sddmm',
  'sparse-template-spmm',
  'long-context-model',
  'telerag-generation',
  'hash-fill',
  'nanoflow-overlap-check',
  'nanoflow-overlap-layer',
  'nanoflow-overlap-measure',
  'nanoflow-overlap-setup',
  'nanoflow-overlap-timer',
  'greedy-divergence',
  'host-pauses',
  'nanoflow-arms',
  'step-counts',
  'step-shape-runner',
];

describe('bench/run-all.ts', () => {
  it('lists every program in bench/ once, with what it measures, its duration and needs', () => {
    const programs = readdirSync('bench')
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.slice(0, -3))
      .filter((n) => !LIBRARIES.includes(n))
      .sort();
    expect(BENCHES.map((b) => b.name).sort()).toEqual(programs);
    for (const b of BENCHES) expect(b.measures && b.duration && b.needs).toBeTruthy();
    expect(indexText().split('\n')).toHaveLength(BENCHES.length + 1);
  });
});
