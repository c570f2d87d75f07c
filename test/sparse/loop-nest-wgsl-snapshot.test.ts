/**
 * Pins the sha256 of the WGSL generated from the sparse loop-nest programs for each (format,
 * schedule) — SpMM of every format, the hybrid's fused parts (with and without split rows, and the
 * split rows' sum), SDDMM, RGCN — so a change to the
 * lowering, a schedule primitive or the loop-nest codegen that changes a kernel fails here. CPU
 * only. After an intended change, regenerate with UPDATE_WGSL_SNAPSHOT=1 and say why in the commit.
 */
import { expect } from 'vitest';
import { generateLoopWgsl } from '../../src/compiler/codegen/wgsl-loop-nest.js';
import type { HybLayout, SpmmOpName } from '../../src/sparse/device-layout.js';
import type { SpmmAttrs } from '../../src/sparse/ops.js';
import { rgcnProgram } from '../../src/sparse/rgcn-lower.js';
import type { SddmmSchedule, SpmmSchedule } from '../../src/sparse/schedule.js';
import { sddmmLabel, sddmmProgram } from '../../src/sparse/sddmm-lower.js';
import { hybSplitReduceProgram, spmmLabel, spmmProgram, splitReduceLabel } from '../../src/sparse/spmm-schedule.js';
import { describeWgslSnapshot, sha256 } from '../wgsl-snapshot.js';

const SNAPSHOT = new URL('./__snapshots__/loop-nest-wgsl.sha256.json', import.meta.url);

const SCHEDULES: SpmmSchedule[] = [
  { threadsPerRow: 1, rowsPerWorkgroup: 64, vec4: false },
  { threadsPerRow: 4, rowsPerWorkgroup: 8, vec4: false },
  { threadsPerRow: 8, rowsPerWorkgroup: 8, vec4: true },
  { threadsPerRow: 32, rowsPerWorkgroup: 2, vec4: true },
];

const part = (width: number) => ({ width, rows: 0, rowIdsAt: 0, colsAt: 0, indptrAt: 0, valsAt: 0 });
const HYB: HybLayout = { parts: [part(2), part(8), part(0)] };
const split = { segLen: 256, rows: 0, segs: 0, rowIdsAt: 0, segPtrAt: 0, rowSegsAt: 0, colsAt: 0, valsAt: 0 };
const HYB_SPLIT: HybLayout = { parts: [part(2), part(8), part(0)], split };

const FORMATS: { op: SpmmOpName; attrs: Omit<SpmmAttrs, 'schedule'> }[] = [
  { op: 'spmm_csr', attrs: {} },
  { op: 'spmm_coo', attrs: { m: 1 } },
  { op: 'spmm_ell', attrs: {} },
  { op: 'spmm_bsr', attrs: { m: 1, block: 4 } },
  { op: 'spmm_bsr', attrs: { m: 1, block: 16 } },
  { op: 'spmm_hyb', attrs: { m: 1, layout: HYB } },
  { op: 'spmm_hyb', attrs: { m: 1, layout: HYB_SPLIT } },
];

const SDDMM: SddmmSchedule[] = [
  { lanes: 1, nnzPerWorkgroup: 64, vec4: true },
  { lanes: 1, nnzPerWorkgroup: 32, vec4: false },
  { lanes: 8, nnzPerWorkgroup: 8, vec4: true },
  { lanes: 4, nnzPerWorkgroup: 32, vec4: false },
];

function currentHashes(): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, wgsl: string) => {
    if (name in out) throw new Error(`duplicate configuration name ${name}`);
    out[name] = sha256(wgsl);
  };
  for (const { op, attrs } of FORMATS)
    for (const schedule of SCHEDULES) {
      const a = { ...attrs, schedule } as SpmmAttrs;
      put(spmmLabel(op, a), generateLoopWgsl(spmmProgram(op, a)).wgsl);
    }
  for (const schedule of SCHEDULES)
    put(splitReduceLabel(schedule), generateLoopWgsl(hybSplitReduceProgram(schedule)).wgsl);
  for (const s of SDDMM) put(sddmmLabel(s), generateLoopWgsl(sddmmProgram(s)).wgsl);
  put('rgcn_csr', generateLoopWgsl(rgcnProgram()).wgsl);
  return out;
}

describeWgslSnapshot('sparse loop-nest WGSL snapshot', SNAPSHOT, currentHashes, {
  title: 'every schedule knob changes the kernel text',
  check: (hashes) => {
    const values = Object.values(hashes);
    expect(new Set(values).size).toBe(values.length);
  },
});
