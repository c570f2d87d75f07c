/**
 * GCN, GraphSAGE and GAT through the compiler (`GnnModel`: the IR graph with the sparse kernels)
 * against the float64 oracle (`gnn-oracle.ts`), on small random graphs (isolated nodes, one hub
 * linked to every node) on each backend, and on Cora with random weights on the CPU backend:
 * logits within a tolerance and predictions (argmax) identical. Checkpoints are written to a
 * temporary folder and opened through `openModel`, so the family's config and tensor checks run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import { readPlanetoid } from '../../../src/io/planetoid-file.js';
import type { GnnConfig } from '../../../src/models/gnn/gnn-config.js';
import { GnnModel, type GnnInput, argmaxRows } from '../../../src/models/gnn/gnn-model.js';
import { writeRandomGnn } from '../../../src/models/gnn/random-checkpoint.js';
import { openModel } from '../../../src/models/open-model.js';
import type { Csr } from '../../../src/sparse/formats.js';
import { seedNote, testSeed } from '../../../src/testing/seed.js';
import { Rng } from '../../../src/util/rng.js';
import { gpuBackend, gpusOrSkip } from '../../gpu-setup.js';
import { type OracleGraph, oracleLogits } from '../../../src/models/gnn/reference.js';

const seed = testSeed();
const gpu = await gpuBackend();
const dir = await mkdtemp(join(tmpdir(), 'tessera-gnn-'));
afterAll(async () => {
  console.log(`gnn: ${seedNote(seed)}`);
  await rm(dir, { recursive: true, force: true });
});

const base = { negativeSlope: 0.2 } as const;
const configs = (fin: number, classes: number): GnnConfig[] => [
  { ...base, arch: 'gcn', inFeatures: fin, hidden: [16], numClasses: classes, heads: [1, 1], activation: 'relu' },
  { ...base, arch: 'sage', inFeatures: fin, hidden: [16], numClasses: classes, heads: [1, 1], activation: 'relu' },
  { ...base, arch: 'gat', inFeatures: fin, hidden: [8], numClasses: classes, heads: [4, 2], activation: 'elu' },
];

/** A symmetric random graph with isolated nodes and a hub, binary CSR without self loops, and sparse features. */
function randomGraph(s: number, n: number, fin: number): { input: GnnInput; oracle: OracleGraph } {
  const rng = new Rng(s);
  const nbr: Set<number>[] = Array.from({ length: n }, () => new Set());
  const link = (i: number, j: number) => {
    if (i === j) return;
    nbr[i]!.add(j);
    nbr[j]!.add(i);
  };
  for (let i = 3; i < n; i++) for (let t = 0; t < 2; t++) link(i, rng.int(3, n - 1)); // nodes 0..2 isolated…
  for (let j = 2; j < n; j++) link(1, j); // …but for node 1, a hub linked to all but 0
  const indptr = new Int32Array(n + 1);
  const indices: number[] = [];
  nbr.forEach((s2, i) => {
    indices.push(...[...s2].sort((a, b) => a - b));
    indptr[i + 1] = indices.length;
  });
  const x = new Float64Array(n * fin);
  const fp = new Int32Array(n + 1);
  const fi: number[] = [];
  const fv: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < fin; q++)
      if (rng.next() < 0.3) {
        const v = Math.fround(rng.uniform(-1, 1));
        x[i * fin + q] = v;
        fi.push(q);
        fv.push(v);
      }
    fp[i + 1] = fi.length;
  }
  const features: Csr = {
    kind: 'csr',
    m: n,
    k: fin,
    indptr: fp,
    indices: Int32Array.from(fi),
    vals: Float32Array.from(fv),
  };
  return {
    input: { adjacency: { n, indptr, indices: Int32Array.from(indices) }, features },
    oracle: { n, neighbours: nbr.map((s2) => [...s2]), x },
  };
}

async function runModel(b: Backend, cfg: GnnConfig, weightsSeed: number, input: GnnInput, tag: string) {
  const path = join(dir, `${cfg.arch}-${tag}-${weightsSeed}`);
  const weights = await writeRandomGnn(path, cfg, weightsSeed);
  const opened = await openModel(path);
  try {
    expect(opened.family).toBe('gnn');
    const model = await GnnModel.load(opened as never, {
      backend: b,
      maxNodes: input.adjacency.n,
      maxEdges: input.adjacency.indices.length + input.adjacency.n,
      maxFeatureNonzeros: input.features.indices.length,
    });
    try {
      return { logits: await model.logits(input), weights };
    } finally {
      model.destroy();
    }
  } finally {
    await opened.weights.close();
  }
}

function compare(got: Float32Array, want: Float64Array, classes: number) {
  let worst = 0;
  let scale = 0;
  for (let e = 0; e < want.length; e++) {
    worst = Math.max(worst, Math.abs(got[e]! - want[e]!));
    scale = Math.max(scale, Math.abs(want[e]!));
  }
  const p = argmaxRows(got, classes);
  const q = argmaxRows(want, classes);
  const differ = p.reduce((a, v, i) => a + (v !== q[i] ? 1 : 0), 0);
  // the smallest gap between the oracle's best and second-best logit: how close to a tie any node is
  let margin = Infinity;
  for (let i = 0; i < p.length; i++) {
    const row = Array.from(want.subarray(i * classes, (i + 1) * classes)).sort((a, b) => b - a);
    margin = Math.min(margin, row[0]! - (row[1] ?? -Infinity));
  }
  return { worst, scale, differ, margin };
}

const backends: { name: string; b: Backend }[] = [
  { name: 'cpu', b: new CpuBackend() },
  ...gpusOrSkip(gpu ? [{ name: 'webgpu', b: gpu as Backend }] : [], 'GNN models on WebGPU'),
];

describe(`GNN models through the compiler against the float64 oracle (${seedNote(seed)})`, () => {
  const graph = randomGraph(seed, 45, 12);
  for (const cfg of configs(12, 5))
    for (const { name, b } of backends)
      it(`${name}: ${cfg.arch} on a random 45-node graph (isolated nodes, a hub)`, async () => {
        const { logits, weights } = await runModel(b, cfg, seed + 1, graph.input, name);
        const want = oracleLogits(cfg, weights, graph.oracle);
        const r = compare(logits, want, cfg.numClasses);
        expect(r.worst).toBeLessThan(1e-5 * (1 + r.scale));
        expect(r.differ).toBe(0);
      });
});

describe(`GNN models on Cora with random weights, CPU backend (${seedNote(seed)})`, async () => {
  const cora = await readPlanetoid('data/planetoid', 'cora');
  const n = cora.nodes;
  const x = new Float64Array(n * cora.features);
  for (let i = 0; i < n; i++)
    for (let e = cora.featIndptr[i]!; e < cora.featIndptr[i + 1]!; e++)
      x[i * cora.features + cora.featIndices[e]!] = cora.featValues[e]!;
  const neighbours = Array.from({ length: n }, (_, i) =>
    Array.from(cora.adjIndices.subarray(cora.adjIndptr[i]!, cora.adjIndptr[i + 1]!)),
  );
  const input: GnnInput = {
    adjacency: { n, indptr: cora.adjIndptr, indices: cora.adjIndices },
    features: {
      kind: 'csr',
      m: n,
      k: cora.features,
      indptr: cora.featIndptr,
      indices: cora.featIndices,
      vals: cora.featValues,
    },
  };
  for (const cfg of configs(cora.features, cora.classes))
    for (const { name, b } of backends)
      it(`${name}: ${cfg.arch}: predictions identical to the oracle's on all ${n} nodes`, async () => {
        const { logits, weights } = await runModel(b, cfg, seed + 2, input, `cora-${name}`);
        const want = oracleLogits(cfg, weights, { n, neighbours, x });
        const r = compare(logits, want, cfg.numClasses);
        console.log(
          `cora ${name} ${cfg.arch}: worst |Δlogit| ${r.worst.toExponential(2)} (max |logit| ${r.scale.toFixed(3)}), smallest top-2 margin ${r.margin.toExponential(2)}`,
        );
        expect(r.worst).toBeLessThan(1e-5 * (1 + r.scale));
        expect(r.differ).toBe(0);
      }, 120_000);
});
