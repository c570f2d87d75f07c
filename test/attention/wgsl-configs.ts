/**
 * The configurations whose generated WGSL the snapshot test pins: the shipped defaults over head
 * dims, row tiles and variants, then every tuning knob flipped one at a time (and the in-step loop's
 * knobs on that loop), for the tensor-core prefill template and the streaming decode template; and
 * the contiguous `attention` op's kernel over dtypes and head dims.
 */
import type { AttentionKernelParams } from '../../src/attention/attention-wgsl.js';
import type { VariantSpec } from '../../src/attention/variants.js';

export const VARIANTS: readonly (readonly [string, VariantSpec])[] = [
  ['causal', { causal: true }],
  ['none', {}],
  ['window+softcap', { causal: true, windowLeft: 37, softCap: 4 }],
  ['rope+alibi', { causal: true, rope: { theta: 10000 }, alibi: true }],
  ['mask', { customMask: true }],
];

export function kernelParams(
  headDim: number,
  variant: VariantSpec,
  tileRows: number,
  over: Partial<AttentionKernelParams> = {},
): AttentionKernelParams {
  return {
    headDim,
    numQoHeads: 32,
    numKvHeads: 8,
    pageSize: 16,
    layout: 'NHD',
    qDtype: 'f16',
    kvDtype: 'f16',
    oDtype: 'f16',
    scale: 1 / Math.sqrt(headDim),
    variant,
    tileRows,
    tileKeys: 32,
    grid: 528,
    maxItems: 4096,
    ...over,
  };
}

export interface SgmatCase {
  readonly name: string;
  readonly params: AttentionKernelParams;
  readonly subgroupMaxSize: number;
  /** Knobs that differ from the shipped defaults (keys of the sgmat configuration). */
  readonly over: Readonly<Record<string, unknown>>;
}

export interface StreamCase {
  readonly name: string;
  readonly params: AttentionKernelParams;
  readonly subgroupSize: number;
  readonly keysPerSlot?: number;
  readonly over: Readonly<Record<string, unknown>>;
}

const causal: VariantSpec = { causal: true };

export function sgmatCases(): SgmatCase[] {
  const cases: SgmatCase[] = [];
  const add = (name: string, params: AttentionKernelParams, over: Record<string, unknown> = {}, sg = 32) =>
    cases.push({ name: `sgmat/${name}`, params, subgroupMaxSize: sg, over });
  for (const d of [64, 128])
    for (const rows of [64, 128])
      for (const [vn, variant] of VARIANTS) add(`defaults/d${d}/r${rows}/${vn}`, kernelParams(d, variant, rows));
  const flips: [string, Record<string, unknown>, number?][] = [
    ['tileKeys48', { tileKeys: 48 }, 64],
    ['rescaleLog2-0', { rescaleLog2: 0 }],
    ['emulate', { emulate: true }],
    ['ssVec4-off', { ssVec4: false }],
    ['interiorNoMask-off', { interiorNoMask: false }],
    ['earlyFetch', { earlyFetch: true }],
    ['lateV-off', { lateV: false }],
    ['fetchBeforePv', { fetchBeforePv: true }],
    ['polyExp4', { polyExp: 4 }],
    ['polyExp16', { polyExp: 16 }],
    ['deferPv', { deferPv: true }],
    ['pingPong-off', { pingPong: false }],
    ['qAhead-off', { qAhead: false }],
    ['fastSoftmax-off', { fastSoftmax: false }],
    ['rescaleMode-check', { rescaleMode: 'check' }],
    ['restartLog2-21', { restartLog2: 21 }],
    ['restartHeadroom-0', { restartHeadroom: 0 }],
    ['diagFirst-off', { diagFirst: false }],
    ['qkRows16', { qkRows: 16 }],
    ['pvRows32', { pvRows: 32 }],
    ['rows64', { rows: 64 }, 64],
  ];
  for (const [name, over, rows] of flips)
    for (const d of [64, 128]) add(`flip/${name}/d${d}`, kernelParams(d, causal, rows ?? 128), over);
  // the in-step loop (pingPong off) and its fetch and deferral knobs
  const step = { pingPong: false };
  const stepFlips: [string, Record<string, unknown>][] = [
    ['earlyFetch', { earlyFetch: true, lateV: false }],
    ['lateV-off', { lateV: false }],
    ['fetchBeforePv', { fetchBeforePv: true }],
    ['deferPv', { deferPv: true }],
    ['deferPv-lateV-off', { deferPv: true, lateV: false }],
    ['ssVec4-off', { ssVec4: false }],
    ['qAhead-off', { qAhead: false }],
    ['rescaleLog2-0', { rescaleLog2: 0 }],
  ];
  for (const [name, over] of stepFlips)
    for (const [vn, variant] of [VARIANTS[0]!, VARIANTS[3]!])
      add(`step/${name}/d128/${vn}`, kernelParams(128, variant, 128), { ...step, ...over });
  for (const [vn, variant] of VARIANTS) {
    add(`check/d128/${vn}`, kernelParams(128, variant, 128), { rescaleMode: 'check' });
    add(`emulate/d128/r64/${vn}`, kernelParams(128, variant, 64), { emulate: true });
  }
  add('d80/r128/causal', kernelParams(80, causal, 128));
  add('d80/r128/pvRows32', kernelParams(80, causal, 128), { pvRows: 32 });
  add('sg64/d128/r128/causal', kernelParams(128, causal, 128), {}, 64);
  add('bf16-out/d128', kernelParams(128, causal, 128, { oDtype: 'f32' }));
  add('scale-negative/d128', kernelParams(128, causal, 128, { scale: -0.1 }));
  add('hnd/d128', kernelParams(128, causal, 128, { layout: 'HND', pageSize: 32 }));
  for (const ab of [
    'qk',
    'softmax',
    'pv',
    'fetch',
    'barrier',
    'kcol',
    'pages',
    'cached',
    'onecase',
    'uload',
    'uload2',
    'ucheap',
    'gbar',
  ])
    add(`ablate/${ab}/d128`, kernelParams(128, causal, 128), { ablate: ab });
  add('ablate/barrier-step/d128', kernelParams(128, causal, 128), {
    ablate: 'barrier',
    pingPong: false,
    rescaleMode: 'check',
  });
  add('ablate/qk+pv/d128', kernelParams(128, causal, 128), { ablate: 'qk+pv' });
  return cases;
}

export function streamCases(): StreamCase[] {
  const cases: StreamCase[] = [];
  const add = (name: string, params: AttentionKernelParams, over: Record<string, unknown> = {}, sg = 32, u?: number) =>
    cases.push({ name: `stream/${name}`, params, subgroupSize: sg, keysPerSlot: u, over });
  const dec = (d: number, variant: VariantSpec, tq: number, o: Partial<AttentionKernelParams> = {}) =>
    kernelParams(d, variant, tq, { tileKeys: 32, grid: 1024, maxItems: 2048, ...o });
  const decodeVariants = VARIANTS.filter(([n]) => n !== 'rope+alibi');
  for (const d of [64, 128])
    for (const tq of [1, 4])
      for (const [vn, variant] of decodeVariants) add(`defaults/d${d}/tq${tq}/${vn}`, dec(d, variant, tq));
  const flips: [string, Record<string, unknown>][] = [
    ['rowScatter-off', { rowScatter: false }],
    ['nextRecord-off', { nextRecord: false }],
    ['slotMerge-shared', { slotMerge: 'shared' }],
    ['keysPerSlot4', { keysPerSlot: 4 }],
    ['ablate-pages', { ablate: 'pages' }],
    ['ablate-merge', { ablate: 'merge' }],
    ['ablate-query', { ablate: 'query' }],
    ['shared-nextRecord-off', { slotMerge: 'shared', nextRecord: false }],
  ];
  for (const [name, over] of flips) for (const d of [64, 128]) add(`flip/${name}/d${d}`, dec(d, causal, 4), over);
  add('keysPerSlot-arg1/d128', dec(128, causal, 4), {}, 32, 1);
  add('keysPerSlot-arg2/d128', dec(128, causal, 4), {}, 32, 2);
  add('d80/sg8', dec(80, causal, 4), {}, 8);
  add('f32-kv/d128', dec(128, causal, 4, { kvDtype: 'f32', qDtype: 'f32', oDtype: 'f32' }));
  add('bf16/d128', dec(128, causal, 4, { kvDtype: 'bf16', qDtype: 'bf16', oDtype: 'bf16' }));
  add('tq8/d64', dec(64, causal, 8));
  add('tq2/d128', dec(128, causal, 2));
  add('tq8/d64/rowScatter-off', dec(64, causal, 8), { rowScatter: false });
  add('sg16/d128', dec(128, causal, 4), {}, 16);
  add('hnd/d128', dec(128, causal, 4, { layout: 'HND', pageSize: 32 }));
  return cases;
}

export interface DenseCase {
  readonly name: string;
  readonly dtypes: readonly ['f32' | 'f16', 'f32' | 'f16', 'f32' | 'f16'];
  readonly headDim: number;
  readonly f16: boolean;
}

/** The contiguous `attention` op's kernel: block sizes follow D, loads and stores follow the dtypes. */
export function denseCases(): DenseCase[] {
  const cases: DenseCase[] = [];
  const add = (dtypes: DenseCase['dtypes'], headDim: number, f16: boolean) =>
    cases.push({ name: `dense/${dtypes.join('-')}/d${headDim}/${f16 ? 'f16' : 'nof16'}`, dtypes, headDim, f16 });
  for (const d of [7, 64, 128, 512]) add(['f32', 'f32', 'f32'], d, true);
  for (const d of [64, 128]) add(['f16', 'f16', 'f16'], d, true);
  add(['f16', 'f16', 'f16'], 64, false);
  add(['f16', 'f32', 'f16'], 80, true);
  return cases;
}
