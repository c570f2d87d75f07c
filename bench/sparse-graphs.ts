/**
 * The graphs of the sparse benchmark and their files. R-MAT graphs (src/sparse/generate.ts, fixed
 * seeds) are generated here and written as CSR (`<name>.json` header, `<name>.indptr.i32`,
 * `<name>.indices.i32`, `<name>.vals.f32`, raw little-endian), so bench/anchors/torch_sparse.py
 * times cuSPARSE on the very same matrices instead of regenerating them in another language.
 *
 * Usage: node .build/bench/sparse-graphs.js <dir> [--big | --tiny]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { csrFromCoo } from '../src/sparse/convert.js';
import type { Coo } from '../src/sparse/formats.js';
import { rmatCoo } from '../src/sparse/generate.js';

export interface BenchGraph {
  readonly name: string;
  readonly scale: number;
  readonly edgeFactor: number;
  readonly seed: number;
}

/** Power-law graphs from 16K to 262K nodes (`--big` adds 1M nodes, 16M edges; `--tiny` is 1K nodes). */
export function benchGraphs(size: 'tiny' | 'default' | 'big'): BenchGraph[] {
  const g = (scale: number, edgeFactor: number): BenchGraph => ({
    name: `rmat-s${scale}-e${edgeFactor}`,
    scale,
    edgeFactor,
    seed: 1000 + scale,
  });
  // tiny: a smoke run for software Vulkan, not a measurement
  if (size === 'tiny') return [g(10, 8)];
  return [g(14, 16), g(16, 16), g(18, 16), ...(size === 'big' ? [g(20, 16)] : [])];
}

export function graphSize(args: readonly string[]): 'tiny' | 'default' | 'big' {
  return args.includes('--tiny') ? 'tiny' : args.includes('--big') ? 'big' : 'default';
}

export function generateGraph(g: BenchGraph): Coo {
  return rmatCoo(g.seed, { scale: g.scale, edgeFactor: g.edgeFactor });
}

export function writeGraph(dir: string, g: BenchGraph, a: Coo): void {
  const csr = csrFromCoo(a);
  mkdirSync(dir, { recursive: true });
  const raw = (x: Int32Array | Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  writeFileSync(join(dir, `${g.name}.indptr.i32`), raw(csr.indptr));
  writeFileSync(join(dir, `${g.name}.indices.i32`), raw(csr.indices));
  writeFileSync(join(dir, `${g.name}.vals.f32`), raw(csr.vals));
  const header = { ...g, generator: 'rmat (src/sparse/generate.ts)', m: a.m, k: a.k, nnz: a.vals.length };
  writeFileSync(join(dir, `${g.name}.json`), `${JSON.stringify(header, null, 2)}\n`);
}

if (process.argv[1]?.endsWith('sparse-graphs.js')) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node .build/bench/sparse-graphs.js <dir> [--big | --tiny]');
    process.exit(2);
  }
  for (const g of benchGraphs(graphSize(process.argv))) {
    const a = generateGraph(g);
    writeGraph(dir, g, a);
    console.log(`${g.name}: ${a.m} nodes, ${a.vals.length} edges (seed ${g.seed}) → ${dir}`);
  }
}
