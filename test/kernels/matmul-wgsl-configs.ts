/**
 * The plans whose generated GEMM WGSL matmul-wgsl-snapshot.test.ts pins: every operand dtype the
 * generators accept, transB, epilogues with and without extra inputs, packed and odd-N outputs,
 * split-K on and off, the staging and syntax variants of the tensor-core kernel, and the
 * Llama-3-8B projection shapes at decode (M = 1) and prefill (M = 512) sizes.
 */
import type { TensorDesc } from '../../src/backends/backend.js';
import type { Capabilities, SubgroupMatrixConfig } from '../../src/backends/webgpu/capabilities.js';
import { type MatmulPlan, planMatmul } from '../../src/kernels/matmul-common.js';
import { DEFAULT_SGMAT, type SgmatParams, sgmatParams } from '../../src/kernels/matmul-sgmat-params.js';
import { type TiledParams, tiledParams } from '../../src/kernels/matmul-tiled.js';
import type { MatmulAttrs } from '../../src/ops/matmul.js';
import type { DType } from '../../src/tensor/dtype.js';

/** [M, N, K]: Llama-3-8B q/o, k/v, gate/up, down and lm_head at decode and prefill, plus ragged sizes. */
export const SHAPES: readonly (readonly [number, number, number])[] = [
  [1, 4096, 4096],
  [1, 1024, 4096],
  [1, 14336, 4096],
  [1, 4096, 14336],
  [1, 128256, 4096],
  [512, 4096, 4096],
  [512, 1024, 4096],
  [512, 14336, 4096],
  [512, 4096, 14336],
  [48, 4096, 4096],
  [4096, 4096, 4096],
  [300, 200, 264],
  [37, 101, 77],
];

interface Epilogue {
  readonly name: string;
  readonly expr?: string;
  /** Extra inputs' dtypes and whether each is a bias row [N] (else a full [M, N] tensor). */
  readonly extras: readonly { dtype: DType; row: boolean }[];
}

export const EPILOGUES: readonly Epilogue[] = [
  { name: 'none', extras: [] },
  { name: 'bias', expr: 'x0 + x1', extras: [{ dtype: 'f32', row: true }] },
  { name: 'silu-mul', expr: 'silu(x0) * x1', extras: [{ dtype: 'f16', row: false }] },
  { name: 'scale', expr: 'x0 * 0.5', extras: [] },
];

function plan(
  a: DType,
  b: DType,
  out: DType,
  transB: boolean,
  [M, N, K]: readonly [number, number, number],
  epi: Epilogue,
  caps: Pick<Capabilities, 'f16'>,
): MatmulPlan {
  const attrs: MatmulAttrs = { transB, ...(epi.expr ? { epilogue: epi.expr } : {}) };
  const inputs: TensorDesc[] = [
    { dtype: a, shape: [M, K] },
    { dtype: b, shape: transB ? [N, K] : [K, N] },
    ...epi.extras.map((x) => ({ dtype: x.dtype, shape: x.row ? [N] : [M, N] })),
  ];
  return planMatmul(attrs, inputs, out, caps);
}

export interface TiledCase {
  readonly name: string;
  readonly plan: MatmulPlan;
  readonly caps: Pick<Capabilities, 'f16'>;
  readonly params: TiledParams;
}

export function tiledCases(): TiledCase[] {
  const out: TiledCase[] = [];
  const dtypes: DType[] = ['f32', 'f16', 'bf16'];
  for (const f16 of [false, true])
    for (const a of dtypes)
      for (const b of dtypes)
        for (const transB of [false, true])
          for (const shape of [SHAPES[0]!, SHAPES[5]!]) {
            const caps = { f16 };
            const name = `tiled/caps-f16-${f16}/${a}.${b}${transB ? '.tB' : ''}/${shape.join('x')}`;
            out.push({
              name,
              caps,
              plan: plan(a, b, a, transB, shape, EPILOGUES[0]!, caps),
              params: tiledParams(shape[0], shape[1]),
            });
          }
  for (const f16 of [false, true])
    for (const epi of EPILOGUES)
      for (const od of ['f32', 'f16', 'bf16'] as DType[])
        for (const shape of [SHAPES[0]!, SHAPES[5]!, SHAPES[12]!]) {
          const caps = { f16 };
          const name = `tiled/caps-f16-${f16}/epi-${epi.name}/out-${od}/${shape.join('x')}`;
          const p = plan('f16', 'bf16', od, true, shape, epi, caps);
          out.push({ name, caps, plan: p, params: tiledParams(shape[0], shape[1]) });
        }
  return out;
}

type SgmatCaps = Pick<Capabilities, 'f16' | 'subgroupMaxSize'>;

export interface SgmatCase {
  readonly name: string;
  readonly plan: MatmulPlan;
  readonly caps: SgmatCaps;
  readonly cfg: SubgroupMatrixConfig;
  readonly params: SgmatParams;
}

const CFG16: SubgroupMatrixConfig = { componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 };
const CFG8: SubgroupMatrixConfig = { componentType: 'f16', resultComponentType: 'f32', M: 8, N: 8, K: 8 };

/** The kernel's own choice of parameters, with split-K clamped as `encode` does for batched products. */
function chosen(p: MatmulPlan, over?: Partial<SgmatParams>): SgmatParams {
  const t = sgmatParams(p.g.M, p.g.N, p.g.K, p.g.batch, over);
  return { ...t, splitK: t.splitK > 1 && p.g.batch === 1 ? t.splitK : 1 };
}

export function sgmatCases(): SgmatCase[] {
  const out: SgmatCase[] = [];
  const caps: SgmatCaps = { f16: true, subgroupMaxSize: 32 };
  // the shipped choice for every shape, dtype pair and layout
  for (const shape of SHAPES)
    for (const [a, b] of [
      ['f16', 'f16'],
      ['bf16', 'bf16'],
      ['f16', 'bf16'],
    ] as [DType, DType][])
      for (const transB of [false, true]) {
        const p = plan(a, b, a, transB, shape, EPILOGUES[0]!, caps);
        const t = chosen(p);
        const name = `sgmat/${a}.${b}${transB ? '.tB' : ''}/${shape.join('x')}/k${t.splitK}`;
        out.push({ name, plan: p, caps, cfg: CFG16, params: t });
      }
  // epilogues and output dtypes, with split-K forced on and off
  for (const epi of EPILOGUES)
    for (const od of ['f32', 'f16', 'bf16'] as DType[])
      for (const splitK of [1, 4]) {
        const shape = SHAPES[9]!;
        const p = plan('bf16', 'bf16', od, true, shape, epi, caps);
        const name = `sgmat/epi-${epi.name}/out-${od}/k${splitK}`;
        out.push({ name, plan: p, caps, cfg: CFG16, params: chosen(p, { splitK }) });
      }
  // staging, syntax, tile and device variants on one ragged and one aligned problem
  const variants: [string, Partial<SgmatParams>, SgmatCaps, SubgroupMatrixConfig][] = [
    ['default', {}, caps, CFG16],
    ['smem-f16', { smem: 'f16' }, caps, CFG16],
    ['smem-vec4f16', { smem: 'vec4f16' }, caps, CFG16],
    ['syntax-bool', { syntax: 'bool' }, caps, CFG16],
    ['tiles-4x2-bk16', { WM: 4, WN: 2, TM: 4, TN: 4, BK: 16 }, caps, CFG16],
    ['tiles-1x2-bk64', { WM: 1, WN: 2, TM: 1, TN: 2, BK: 64 }, caps, CFG16],
    ['pad-0', { pad: 0 }, caps, CFG16],
    ['probe-no-global', { probe: 'no-global' }, caps, CFG16],
    ['probe-compute-only', { probe: 'compute-only' }, caps, CFG16],
    ['sg64', {}, { f16: true, subgroupMaxSize: 64 }, CFG16],
    ['cfg8', {}, caps, CFG8],
  ];
  for (const [vname, over, vcaps, cfg] of variants)
    for (const shape of [SHAPES[5]!, SHAPES[11]!])
      for (const transB of [false, true]) {
        const p = plan('f16', 'bf16', 'f16', transB, shape, EPILOGUES[1]!, vcaps);
        const name = `sgmat/variant-${vname}/${transB ? 'tB/' : ''}${shape.join('x')}`;
        out.push({ name, plan: p, caps: vcaps, cfg, params: { ...DEFAULT_SGMAT, ...over, splitK: 1 } });
      }
  return out;
}

/** Plans for the split-K reduction pass (it applies the real plan's epilogue and output dtype). */
export function splitReduceCases(): { name: string; plan: MatmulPlan; caps: Pick<Capabilities, 'f16'> }[] {
  const out = [];
  for (const f16 of [false, true])
    for (const epi of EPILOGUES)
      for (const od of ['f32', 'f16', 'bf16'] as DType[]) {
        const caps = { f16 };
        out.push({
          name: `splitk-sum/caps-f16-${f16}/epi-${epi.name}/out-${od}`,
          caps,
          plan: plan('f16', 'f16', od, true, SHAPES[12]!, epi, caps),
        });
      }
  return out;
}
