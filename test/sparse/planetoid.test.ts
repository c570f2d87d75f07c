/**
 * The converted planetoid graphs (data/planetoid) read back through `readPlanetoid`: sizes equal
 * the published ones (and PyG's edge counts), the adjacency is symmetric with exactly one self loop
 * per node, features are row-normalized, splits are Kipf & Welling's; a corrupted header is refused.
 * The GCN and mean normalizations are checked against dense float64 formulas written here.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { type PlanetoidHeader, parsePlanetoid, readPlanetoid } from '../../src/io/planetoid-file.js';
import { gcnNormalized, meanNormalized, withoutSelfLoops } from '../../src/sparse/graph-norm.js';

const DIR = 'data/planetoid';
const EXPECTED = {
  cora: { nodes: 2708, edges: 10556, features: 1433, featNnz: 49216, classes: 7, train: 140 },
  citeseer: { nodes: 3327, edges: 9104, features: 3703, featNnz: 105165, classes: 6, train: 120 },
} as const;

describe.each(Object.entries(EXPECTED))('planetoid %s', (name, want) => {
  it('has the published sizes, a symmetric A + I and normalized features', async () => {
    const g = await readPlanetoid(DIR, name);
    expect([g.nodes, g.edges, g.features, g.featValues.length, g.classes]).toEqual([
      want.nodes,
      want.edges,
      want.features,
      want.featNnz,
      want.classes,
    ]);
    expect(g.adjIndices.length).toBe(want.edges + want.nodes);
    const edges = new Set<number>();
    for (let i = 0; i < g.nodes; i++) {
      let loops = 0;
      for (let e = g.adjIndptr[i]!; e < g.adjIndptr[i + 1]!; e++) {
        const j = g.adjIndices[e]!;
        if (j === i) loops++;
        if (e > g.adjIndptr[i]!) expect(j).toBeGreaterThan(g.adjIndices[e - 1]!);
        edges.add(i * g.nodes + j);
      }
      expect(loops).toBe(1);
    }
    for (const key of edges) expect(edges.has((key % g.nodes) * g.nodes + Math.floor(key / g.nodes))).toBe(true);
    let zeroRows = 0;
    for (let i = 0; i < g.nodes; i++) {
      let s = 0;
      for (let e = g.featIndptr[i]!; e < g.featIndptr[i + 1]!; e++) s += g.featValues[e]!;
      if (g.featIndptr[i + 1] === g.featIndptr[i]) zeroRows++;
      else expect(Math.abs(s - 1)).toBeLessThan(1e-5);
    }
    // Citeseer's test index skips 15 isolated nodes, whose rows and labels the source leaves empty
    expect(zeroRows).toBe(name === 'citeseer' ? 15 : 0);
    expect(g.labels.filter((l) => l < 0).length).toBe(zeroRows);
    expect(Array.from(g.train)).toEqual(Array.from({ length: want.train }, (_, i) => i));
    expect(Array.from(g.val)).toEqual(Array.from({ length: 500 }, (_, i) => want.train + i));
    expect(g.test.length).toBe(1000);
    for (const i of g.test) expect(g.labels[i]).toBeGreaterThanOrEqual(0);
  });
});

it('refuses a header whose array runs past the blob', async () => {
  const header = JSON.parse(await readFile(`${DIR}/cora.json`, 'utf8')) as PlanetoidHeader;
  const blob = new Uint8Array(await readFile(`${DIR}/cora.bin`));
  const bad = { ...header, arrays: { ...header.arrays, test: { ...header.arrays.test!, offset: blob.byteLength } } };
  expect(() => parsePlanetoid(bad, blob)).toThrow(/test.*outside/);
});

it('GCN and mean normalizations equal the dense float64 formulas on Cora', async () => {
  const g = await readPlanetoid(DIR, 'cora');
  const n = g.nodes;
  const deg = new Float64Array(n);
  const degNoLoop = new Float64Array(n);
  for (let i = 0; i < n; i++)
    for (let e = g.adjIndptr[i]!; e < g.adjIndptr[i + 1]!; e++) {
      deg[i]++;
      if (g.adjIndices[e] !== i) degNoLoop[i]++;
    }
  const gcn = gcnNormalized({ n, indptr: g.adjIndptr, indices: g.adjIndices });
  const mean = meanNormalized(withoutSelfLoops({ n, indptr: g.adjIndptr, indices: g.adjIndices }));
  expect(mean.vals.length).toBe(g.edges);
  for (let i = 0; i < n; i++) {
    for (let e = gcn.indptr[i]!; e < gcn.indptr[i + 1]!; e++) {
      const j = gcn.indices[e]!;
      expect(Math.abs(gcn.vals[e]! - 1 / Math.sqrt(deg[i]! * deg[j]!))).toBeLessThan(1e-7);
    }
    for (let e = mean.indptr[i]!; e < mean.indptr[i + 1]!; e++) {
      expect(mean.indices[e]).not.toBe(i);
      expect(Math.abs(mean.vals[e]! - 1 / degNoLoop[i]!)).toBeLessThan(1e-7);
    }
  }
});
