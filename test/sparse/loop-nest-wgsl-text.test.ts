/**
 * The WGSL text of one schedule per sparse kernel, kept as files beside the hash snapshot
 * (`loop-nest-wgsl-snapshot.test.ts`, every (format, schedule)), so a change to the lowering, the
 * schedule primitives or the loop-nest codegen shows in review as a diff of the kernels it changes.
 * CPU only. After an intended change, regenerate with `npx vitest run <this file> -u`.
 */
import { describe, expect, it } from 'vitest';
import { generateLoopWgsl } from '../../src/compiler/codegen/wgsl-loop-nest.js';
import type { LoopProgram } from '../../src/ir/tir/loop-nest.js';
import type { SpmmOpName } from '../../src/sparse/device-layout.js';
import type { SpmmAttrs } from '../../src/sparse/ops.js';
import { rgcnProgram } from '../../src/sparse/rgcn-lower.js';
import type { SddmmSchedule, SpmmSchedule } from '../../src/sparse/schedule.js';
import { sddmmLabel, sddmmProgram } from '../../src/sparse/sddmm-lower.js';
import { hybSplitReduceProgram, spmmLabel, spmmProgram, splitReduceLabel } from '../../src/sparse/spmm-schedule.js';

const vec: SpmmSchedule = { threadsPerRow: 8, rowsPerWorkgroup: 8, vec4: true };
const scalar: SpmmSchedule = { threadsPerRow: 4, rowsPerWorkgroup: 8, vec4: false };
const part = (width: number) => ({ width, rows: 0, rowIdsAt: 0, colsAt: 0, indptrAt: 0, valsAt: 0 });
const split = { segLen: 256, rows: 0, segs: 0, rowIdsAt: 0, segPtrAt: 0, rowSegsAt: 0, colsAt: 0, valsAt: 0 };

const spmm = (op: SpmmOpName, attrs: Omit<SpmmAttrs, 'schedule'>, schedule: SpmmSchedule): [string, LoopProgram] => {
  const a = { ...attrs, schedule } as SpmmAttrs;
  return [spmmLabel(op, a), spmmProgram(op, a)];
};
const sddmm = (s: SddmmSchedule): [string, LoopProgram] => [sddmmLabel(s), sddmmProgram(s)];

const KERNELS: [string, LoopProgram][] = [
  spmm('spmm_csr', {}, vec),
  spmm('spmm_coo', { m: 1 }, scalar),
  spmm('spmm_ell', {}, vec),
  spmm('spmm_bsr', { m: 1, block: 4 }, scalar),
  spmm('spmm_hyb', { m: 1, layout: { parts: [part(2), part(8), part(0)] } }, vec),
  spmm('spmm_hyb', { m: 1, layout: { parts: [part(2), part(0)], split } }, vec),
  [splitReduceLabel(vec), hybSplitReduceProgram(vec)],
  sddmm({ lanes: 1, nnzPerWorkgroup: 64, vec4: true }),
  sddmm({ lanes: 8, nnzPerWorkgroup: 8, vec4: true }),
  ['rgcn_csr', rgcnProgram()],
];

describe('sparse loop-nest WGSL text', () => {
  for (const [label, program] of KERNELS)
    it(label, async () => {
      await expect(generateLoopWgsl(program).wgsl).toMatchFileSnapshot(`./__snapshots__/loop-nest-wgsl/${label}.wgsl`);
    });
});
