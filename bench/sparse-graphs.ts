/**
 * The graphs of the sparse benchmark and their files. R-MAT graphs (src/sparse/generate.ts, fixed
 * seeds) are generated here, the planetoid graphs (Cora, Citeseer from data/planetoid) read and
 * GCN-normalized (D^-1/2 (A + I) D^-1/2, the matrix a GCN layer aggregates with), and all written as CSR (`<name>.json` header, `<name>.indptr.i32`,
 * `<name>.indices.i32`, `<name>.vals.f32`, raw little-endian), so bench/anchors/torch_sparse.py
 * times cuSPARSE on the very same matrices instead of regenerating them in another language.
 *
 * Usage: node .build/bench/sparse-graphs.js <dir> [--big | --tiny]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPlanetoid } from '../src/io/planetoid-file.js';
import { cooFromCsr, csrFromCoo } from '../src/sparse/convert.js';
import type { Coo } from '../src/sparse/formats.js';
import { rmatCoo } from '../src/sparse/generate.js';
import { gcnNormalized } from '../src/sparse/graph-norm.js';

export type BenchGraph =
  | {
      readonly kind: 'rmat';
      readonly name: string;
      readonly scale: number;
      readonly edgeFactor: number;
      /** Of the graph, and (× 31 + f) of the features multiplied with it. */
      readonly seed: number;
    }
  | { readonly kind: 'planetoid'; readonly name: string; readonly dataset: string; readonly seed: number };

/**
 * Power-law graphs from 16K to 262K nodes (`--big` adds 1M nodes, 16M edges; `--tiny` is 1K
 * nodes), then Cora and Citeseer (Cora alone with `--tiny`).
 */
export function benchGraphs(size: 'tiny' | 'default' | 'big'): BenchGraph[] {
  const g = (scale: number, edgeFactor: number): BenchGraph => ({
    kind: 'rmat',
    name: `rmat-s${scale}-e${edgeFactor}`,
    scale,
    edgeFactor,
    seed: 1000 + scale,
  });
  const planetoid = (dataset: string, seed: number): BenchGraph => ({
    kind: 'planetoid',
    name: `${dataset}-gcn`,
    dataset,
    seed,
  });
  // tiny: a smoke run for software Vulkan, not a measurement
  if (size === 'tiny') return [g(10, 8), planetoid('cora', 2001)];
  return [
    g(14, 16),
    g(16, 16),
    g(18, 16),
    ...(size === 'big' ? [g(20, 16)] : []),
    planetoid('cora', 2001),
    planetoid('citeseer', 2002),
  ];
}

export function graphSize(args: readonly string[]): 'tiny' | 'default' | 'big' {
  return args.includes('--tiny') ? 'tiny' : args.includes('--big') ? 'big' : 'default';
}

export async function generateGraph(g: BenchGraph): Promise<Coo> {
  if (g.kind === 'rmat') return rmatCoo(g.seed, { scale: g.scale, edgeFactor: g.edgeFactor });
  const p = await readPlanetoid('data/planetoid', g.dataset);
  return cooFromCsr(gcnNormalized({ n: p.nodes, indptr: p.adjIndptr, indices: p.adjIndices }));
}

export function writeGraph(dir: string, g: BenchGraph, a: Coo): void {
  const csr = csrFromCoo(a);
  mkdirSync(dir, { recursive: true });
  const raw = (x: Int32Array | Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  writeFileSync(join(dir, `${g.name}.indptr.i32`), raw(csr.indptr));
  writeFileSync(join(dir, `${g.name}.indices.i32`), raw(csr.indices));
  writeFileSync(join(dir, `${g.name}.vals.f32`), raw(csr.vals));
  const generator =
    g.kind === 'rmat' ? 'rmat (src/sparse/generate.ts)' : 'data/planetoid, GCN-normalized (src/sparse/graph-norm.ts)';
  const header = { ...g, generator, m: a.m, k: a.k, nnz: a.vals.length };
  writeFileSync(join(dir, `${g.name}.json`), `${JSON.stringify(header, null, 2)}\n`);
}

if (process.argv[1]?.endsWith('sparse-graphs.js')) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node .build/bench/sparse-graphs.js <dir> [--big | --tiny]');
    process.exit(2);
  }
  for (const g of benchGraphs(graphSize(process.argv))) {
    const a = await generateGraph(g);
    writeGraph(dir, g, a);
    console.log(`${g.name}: ${a.m} nodes, ${a.vals.length} edges (seed ${g.seed}) → ${dir}`);
  }
}
