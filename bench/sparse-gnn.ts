/**
 * GNN inference end to end and RGCN aggregation on WebGPU.
 *
 * - GCN, GraphSAGE, GAT on Cora and Citeseer (data/planetoid): the compiled model's forward on the
 *   resident graph plus reading the logits back, median wall ms. With `--pyg DIR` (the output of
 *   scripts/sparse/train_pyg.py) the weights are PyG's, predictions must equal PyG's on every node,
 *   and PyG's own inference time is the anchor when its runId equals this run's BENCH_RUN_ID;
 *   without it, random weights, and predictions must equal the float64 reference's
 *   (src/models/gnn/reference.ts).
 * - RGCN (`rgcn_csr`, all relations in one dispatch) on heterogeneous graphs at the sizes of the
 *   RGCN benchmarks AIFB, MUTAG and BGS (nodes, relations, edges), fin = fout = 32, checked at 64
 *   seeded rows against float64 sums within the f32 summation bound.
 *
 * Usage: BENCH_RUN_ID=<id> node .build/bench/sparse-gnn.js [--pyg bench/out/gnn-pyg] [--quick]
 */
import '../src/register-all.js';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '../src/backends/backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { type PlanetoidGraph, readPlanetoid } from '../src/io/planetoid-file.js';
import type { OpenedModel } from '../src/models/family.js';
import type { GnnConfig } from '../src/models/gnn/gnn-config.js';
import { GnnModel, argmaxRows } from '../src/models/gnn/gnn-model.js';
import { writeRandomGnn } from '../src/models/gnn/random-checkpoint.js';
import { oracleLogits } from '../src/models/gnn/reference.js';
import { openModel } from '../src/models/open-model.js';
import { randomHetero } from '../src/sparse/hetero.js';
import { f32SumTolerance } from '../src/sparse/reference.js';
import { Rng } from '../src/util/rng.js';
import { type BenchRow, cardName, median, row, runId, timeGpu, writeResults } from './results.js';
import { Check } from './verify.js';

const ARCHS: readonly GnnConfig['arch'][] = ['gcn', 'sage', 'gat'];
const SEED = 20250917;
const RGCN_GRAPHS = [
  { name: 'aifb-size', m: 8285, relations: 90, edges: 58086 },
  { name: 'mutag-size', m: 23644, relations: 46, edges: 148454 },
  { name: 'bgs-size', m: 333845, relations: 206, edges: 1832398 },
];
const RGCN_F = 32;

function randomConfig(arch: GnnConfig['arch'], g: PlanetoidGraph): GnnConfig {
  return arch === 'gat'
    ? {
        arch,
        inFeatures: g.features,
        hidden: [8],
        numClasses: g.classes,
        heads: [8, 1],
        negativeSlope: 0.2,
        activation: 'elu',
      }
    : {
        arch,
        inFeatures: g.features,
        hidden: [16],
        numClasses: g.classes,
        heads: [1, 1],
        negativeSlope: 0.2,
        activation: 'relu',
      };
}

async function gnnRows(
  backend: WebGpuBackend,
  check: Check,
  pygDir: string | null,
  quick: boolean,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const tmp = await mkdtemp(join(tmpdir(), 'tessera-gnn-bench-'));
  try {
    for (const dataset of quick ? ['cora'] : ['cora', 'citeseer']) {
      const g = await readPlanetoid('data/planetoid', dataset);
      const input = {
        adjacency: { n: g.nodes, indptr: g.adjIndptr, indices: g.adjIndices },
        features: {
          kind: 'csr' as const,
          m: g.nodes,
          k: g.features,
          indptr: g.featIndptr,
          indices: g.featIndices,
          vals: g.featValues,
        },
      };
      for (const arch of ARCHS) {
        const folder = pygDir ? join(pygDir, `${dataset}-${arch}`) : join(tmp, `${dataset}-${arch}`);
        const weights = pygDir ? null : await writeRandomGnn(folder, randomConfig(arch, g), SEED);
        const opened = (await openModel(folder)) as OpenedModel<GnnConfig>;
        const model = await GnnModel.load(opened, {
          backend,
          maxNodes: g.nodes,
          maxEdges: g.adjIndices.length,
          maxFeatureNonzeros: g.featIndices.length,
        });
        const resident = model.upload(input);
        const ours = argmaxRows(await model.logitsOf(resident), g.classes);
        let want: ArrayLike<number>;
        let anchor: number | null = null;
        let why = 'random weights (no --pyg): no PyG run to compare with';
        if (pygDir) {
          const pyg = JSON.parse(readFileSync(join(folder, 'pyg.json'), 'utf8')) as {
            predictions: number[];
            inference_ms: number;
            runId: string | null;
          };
          want = pyg.predictions;
          if (pyg.runId !== null && pyg.runId === runId()) anchor = pyg.inference_ms;
          else why = `PyG's pyg.json has runId ${pyg.runId}, this run ${runId()}`;
        } else {
          const neighbours = Array.from({ length: g.nodes }, (_, i) =>
            Array.from(g.adjIndices.subarray(g.adjIndptr[i]!, g.adjIndptr[i + 1]!)),
          );
          const x = new Float64Array(g.nodes * g.features);
          for (let i = 0; i < g.nodes; i++)
            for (let e = g.featIndptr[i]!; e < g.featIndptr[i + 1]!; e++)
              x[i * g.features + g.featIndices[e]!] = g.featValues[e]!;
          want = argmaxRows(oracleLogits(opened.config, weights!, { n: g.nodes, neighbours, x }), g.classes);
        }
        const differ = ours.reduce((a, v, i) => a + (v !== want[i] ? 1 : 0), 0);
        check.that(
          differ === 0,
          `${dataset} ${arch}: predictions identical to ${pygDir ? "PyG's" : 'the float64 reference'} on ${g.nodes} nodes`,
          `${differ} differ`,
        );
        const times: number[] = [];
        for (let i = 0; i < 5; i++) await model.logitsOf(resident);
        for (let i = 0; i < (quick ? 5 : 30); i++) {
          const t0 = performance.now();
          await model.logitsOf(resident);
          times.push(performance.now() - t0);
        }
        const ms = median(times);
        console.log(
          `${dataset} ${arch}: ${ms.toFixed(3)} ms${anchor !== null ? ` (PyG ${anchor.toFixed(3)} ms)` : ''}`,
        );
        rows.push(
          row({
            case: `gnn ${arch} ${dataset} forward+readback`,
            metric: 'ms',
            higherIsBetter: false,
            ours: ms,
            anchor,
            anchorName: anchor !== null ? 'PyTorch Geometric eval forward + .cpu()' : null,
            anchorWhyNull: why,
            limit: null,
            limitName: null,
          }),
        );
        resident.free();
        model.destroy();
        await opened.weights.close();
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return rows;
}

async function rgcnRows(backend: WebGpuBackend, check: Check, quick: boolean): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const spec of RGCN_GRAPHS.slice(0, quick ? 1 : undefined)) {
    const g = randomHetero(SEED, {
      m: spec.m,
      k: spec.m,
      relations: spec.relations,
      meanDegree: spec.edges / spec.m,
    });
    const nnz = g.indices.length;
    const rng = new Rng(SEED + spec.m);
    const x = Float32Array.from(rng.normals(g.k * RGCN_F));
    const w = Float32Array.from(rng.normals(spec.relations * RGCN_F * RGCN_F), (v) => v / Math.sqrt(RGCN_F));
    const put = (dtype: 'i32' | 'f32', shape: number[], data: Int32Array | Float32Array): Tensor => {
      const t = backend.alloc({ dtype, shape });
      backend.write(t, data);
      return t;
    };
    const ins = [
      put('i32', [g.m + 1], g.indptr),
      put('i32', [nnz], g.indices),
      put('i32', [nnz], g.rel),
      put('f32', [nnz], g.vals),
      put('f32', [g.k, RGCN_F], x),
      put('f32', [spec.relations, RGCN_F, RGCN_F], w),
    ];
    const y = backend.alloc({ dtype: 'f32', shape: [g.m, RGCN_F] });
    backend.run('rgcn_csr', {}, ins, [y]);
    const got = (await backend.read(y)) as Float32Array;
    let worst = 0;
    for (let s = 0; s < 64; s++) {
      const i = rng.int(0, g.m - 1);
      for (let c = 0; c < RGCN_F; c++) {
        let want = 0;
        let mag = 0;
        for (let e = g.indptr[i]!; e < g.indptr[i + 1]!; e++)
          for (let q = 0; q < RGCN_F; q++) {
            const t = g.vals[e]! * x[g.indices[e]! * RGCN_F + q]! * w[(g.rel[e]! * RGCN_F + q) * RGCN_F + c]!;
            want += t;
            mag += Math.abs(t);
          }
        const terms = (g.indptr[i + 1]! - g.indptr[i]!) * RGCN_F;
        worst = Math.max(worst, Math.abs(got[i * RGCN_F + c]! - want) / f32SumTolerance(terms, mag, want));
      }
    }
    check.that(worst <= 1, `rgcn ${spec.name}: 64 rows within the f32 summation bound`, `worst ${worst.toFixed(3)}`);
    const ms = await timeGpu(backend, () => backend.run('rgcn_csr', {}, ins, [y]));
    console.log(`rgcn ${spec.name}: ${g.m} nodes, ${spec.relations} relations, ${nnz} edges: ${ms.toFixed(3)} ms`);
    rows.push(
      row({
        case: `rgcn ${spec.name} n${g.m} R${spec.relations} e${nnz} f${RGCN_F}`,
        metric: 'ms',
        higherIsBetter: false,
        ours: ms,
        anchor: null,
        anchorName: null,
        anchorWhyNull: 'no RGCN peer (PyG RGCNConv / DGL) is run by this bench yet',
        limit: null,
        limitName: null,
      }),
    );
    [...ins, y].forEach((t) => backend.free(t));
  }
  return rows;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--pyg');
  const pygDir = at >= 0 ? args[at + 1]! : null;
  if (pygDir && !existsSync(pygDir)) throw new Error(`--pyg ${pygDir}: no such folder`);
  const quick = args.includes('--quick');
  const backend = await WebGpuBackend.create({ onWarning: (m) => console.warn(m) });
  const check = new Check('sparse-gnn');
  const rows = [...(await gnnRows(backend, check, pygDir, quick)), ...(await rgcnRows(backend, check, quick))];
  writeResults(
    'sparse-gnn',
    cardName(backend),
    rows,
    `GNN: data/planetoid (GCN preprocessing), weights ${pygDir ? `trained by PyG (${pygDir})` : `random (seed ${SEED})`}; RGCN: randomHetero seed ${SEED} at the AIFB/MUTAG/BGS node, relation and edge counts, f32`,
    check.passed(),
  );
  backend.destroy();
}

await main();
