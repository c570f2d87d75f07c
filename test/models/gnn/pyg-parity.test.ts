/**
 * GNN checkpoints trained by PyTorch Geometric (scripts/sparse/train_pyg.py, run where torch and
 * torch_geometric are installed) loaded through our compiler: predictions on every node of the
 * planetoid graph identical to PyG's, logits within 1e-4 of PyG's (both f32, summed in different
 * orders). The folder comes from TESSERA_GNN_PYG_DIR; without it the test skips and says so.
 *
 *   python3 scripts/sparse/train_pyg.py --out bench/out/gnn-pyg
 *   TESSERA_GNN_PYG_DIR=bench/out/gnn-pyg npx vitest run test/models/gnn/pyg-parity.test.ts
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import { readPlanetoid } from '../../../src/io/planetoid-file.js';
import type { GnnConfig } from '../../../src/models/gnn/gnn-config.js';
import { GnnModel, argmaxRows } from '../../../src/models/gnn/gnn-model.js';
import type { OpenedModel } from '../../../src/models/family.js';
import { openModel } from '../../../src/models/open-model.js';
import { gpuBackend } from '../../gpu-setup.js';

interface PygResult {
  readonly dataset: string;
  readonly arch: string;
  readonly test_accuracy: number;
  readonly min_top2_margin: number;
  readonly predictions: readonly number[];
  readonly logits: readonly number[];
}

const dir = process.env.TESSERA_GNN_PYG_DIR ?? '';
const folders = dir && existsSync(dir) ? readdirSync(dir).filter((f) => existsSync(join(dir, f, 'pyg.json'))) : [];
const why = !dir
  ? 'TESSERA_GNN_PYG_DIR is not set (run scripts/sparse/train_pyg.py first)'
  : folders.length === 0
    ? `no <dataset>-<arch>/pyg.json under ${dir}`
    : '';
const gpu = await gpuBackend();
const backend: Backend = gpu ?? new CpuBackend();

describe.skipIf(why !== '')(
  `GNN predictions identical to PyTorch Geometric's${why ? ` (skipped: ${why})` : ''}`,
  () => {
    for (const folder of folders)
      it(`${folder} on ${gpu ? 'webgpu' : 'cpu'}`, async () => {
        const pyg = JSON.parse(readFileSync(join(dir, folder, 'pyg.json'), 'utf8')) as PygResult;
        const g = await readPlanetoid('data/planetoid', pyg.dataset);
        const opened = (await openModel(join(dir, folder))) as OpenedModel<GnnConfig>;
        const model = await GnnModel.load(opened, {
          backend,
          maxNodes: g.nodes,
          maxEdges: g.adjIndices.length,
          maxFeatureNonzeros: g.featIndices.length,
        });
        try {
          const logits = await model.logits({
            adjacency: { n: g.nodes, indptr: g.adjIndptr, indices: g.adjIndices },
            features: {
              kind: 'csr',
              m: g.nodes,
              k: g.features,
              indptr: g.featIndptr,
              indices: g.featIndices,
              vals: g.featValues,
            },
          });
          const ours = argmaxRows(logits, g.classes);
          let worst = 0;
          logits.forEach((v, e) => {
            worst = Math.max(worst, Math.abs(v - pyg.logits[e]!));
          });
          const differ = [...ours.keys()].filter((i) => ours[i] !== pyg.predictions[i]);
          const correct = [...g.test].filter((i) => ours[i] === g.labels[i]).length;
          console.log(
            `${folder}: test accuracy ours ${(correct / g.test.length).toFixed(4)}, PyG ${pyg.test_accuracy.toFixed(4)}; ` +
              `max |Δlogit| ${worst.toExponential(2)}; PyG's smallest top-2 margin ${pyg.min_top2_margin.toExponential(2)}; ` +
              `${differ.length} predictions differ${differ.length ? ` (nodes ${differ.slice(0, 10).join(', ')})` : ''}`,
          );
          expect(differ).toEqual([]);
          expect(worst).toBeLessThan(1e-4);
        } finally {
          model.destroy();
          await opened.weights.close();
        }
      });
  },
);

// a visible skipped row when there is nothing to compare (an empty describe would fail the file)
if (why) describe('GNN PyG parity', () => it.skip(`skipped: ${why}`, () => {}));
