/**
 * Correctness on the GPU machine before timing: the paged_attention conformance cases at larger
 * sizes, plus cases on the tensor-core prefill template (64- and 128-row tiles, f16), all against
 * float64. Tensor-core cases alternate the lazy-rescale threshold (and in restart mode the restart
 * threshold and headroom) between the defaults and 0, so the rescale and restart paths are checked
 * too. Tuning from the environment (SgmatConfig's knobs, set on each case's attrs): CHECK_TK keys per tile, CHECK_QKROWS /
 * CHECK_PVROWS=16|32 rows a subgroup multiplies in Q·Kᵀ / P·V, CHECK_PP=1|0 ping-pong halves,
 * CHECK_QA=1|0 Q and the first K fetched at once, CHECK_FAST=1|0 the FMA softmax,
 * CHECK_MODE=check|restart the rescale mode, CHECK_RT=n the restart threshold, CHECK_DEFER=1|0 P·V
 * one tile late, CHECK_LATEV=1|0 the late V fetch, CHECK_PREPV=1|0 those fetches before P·V,
 * CHECK_PE=n exp2 polynomials per lane; CHECK_SCATTER=1|0 the streaming decode's row scatter.
 * Usage: node .build-attn/bench/attention-check.js [cases]
 */
import '../src/register-all.js';
import { attentionCase } from '../src/attention/ops.js';
import { getOp } from '../src/ops/registry.js';
import { runCase } from '../src/testing/conformance.js';
import { Rng, freshSeed } from '../src/util/rng.js';
import { openBench } from './attention-common.js';
import { useSgmat } from '../src/attention/kernels.js';
import { type SgmatConfig, sgmatConfig } from '../src/attention/sgmat-config.js';
import type { StreamConfig } from '../src/attention/stream-config.js';

const n = Number(process.argv[2] ?? 24);
const env = process.env;
const flag = (name: string): boolean | undefined => (env[name] ? env[name] === '1' : undefined);
const num = (name: string): number | undefined => (env[name] ? Number(env[name]) : undefined);
const rowsOf = (name: string): 16 | 32 | undefined => (env[name] ? (Number(env[name]) === 32 ? 32 : 16) : undefined);
const given: Partial<SgmatConfig> = {
  tileKeys: num('CHECK_TK'),
  polyExp: num('CHECK_PE'),
  lateV: flag('CHECK_LATEV'),
  fetchBeforePv: flag('CHECK_PREPV'),
  pingPong: flag('CHECK_PP'),
  qAhead: flag('CHECK_QA'),
  rescaleMode: env.CHECK_MODE as SgmatConfig['rescaleMode'] | undefined,
  restartLog2: num('CHECK_RT'),
  fastSoftmax: flag('CHECK_FAST'),
  deferPv: flag('CHECK_DEFER'),
  qkRows: rowsOf('CHECK_QKROWS'),
  pvRows: rowsOf('CHECK_PVROWS'),
};
const tuned = sgmatConfig(Object.fromEntries(Object.entries(given).filter(([, x]) => x !== undefined)));
const stream: Partial<StreamConfig> = env.CHECK_SCATTER ? { rowScatter: env.CHECK_SCATTER === '1' } : {};
const seed = freshSeed();
const be = await openBench();
const rng = new Rng(seed);
let failed = 0;
console.log(
  `seed ${seed}; sgmat configs: ${be.caps.subgroupMatrix.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ')}; subgroups ${be.caps.subgroupMinSize}-${be.caps.subgroupMaxSize}`,
);
for (let i = 0; i < n; i++) {
  const tensorCores = i % 2 === 0;
  // thresholds of 0 in three cases of four: every max change rescales (or, in restart mode, restarts the item)
  const sgmat = sgmatConfig({
    ...tuned,
    rescaleLog2: i % 4 === 0 ? tuned.rescaleLog2 : 0,
    restartLog2: i % 4 === 0 ? tuned.restartLog2 : 0,
    restartHeadroom: i % 4 === 0 ? tuned.restartHeadroom : 0,
  });
  // every eighth case is one long request, so items walk many key tiles
  const long =
    i % 8 === 4
      ? {
          lengths: { qo: [rng.int(50, 200)], kv: [rng.int(200, 700)] },
          variant: { causal: true },
          kvChunk: rng.pick<number | 'none'>(['none', 256]),
        }
      : {};
  const c0 = attentionCase(
    rng,
    tensorCores
      ? {
          tileRows: rng.pick(sgmat.tileKeys > 32 ? [64] : [64, 128]),
          dtype: 'f16',
          headDim: rng.pick([64, 80, 96, 128]),
          ...long,
        }
      : {},
  );
  const c = { ...c0, attrs: { ...c0.attrs, tuning: { sgmat, stream } } };
  const sg = useSgmat(
    be.caps,
    c.attrs as never,
    c.inputs.map((x) => x.desc),
  );
  const r = await runCase(be, getOp('paged_attention'), c);
  if (!r.ok || r.skipped) failed++;
  console.log(
    `${r.ok && !r.skipped ? 'ok  ' : 'FAIL'} ${sg ? `sgmat r${sgmat.rescaleLog2}${sgmat.rescaleMode === 'restart' ? ` restart>${sgmat.restartLog2}+${sgmat.restartHeadroom}` : ''} rows${c.attrs.tileRows}` : 'f32  '} ${c.label}${r.message ? `: ${r.message}` : ''}${r.skipped ? `: ${r.skipped}` : ''}`,
  );
}
console.log(`${failed} of ${n} failed`);
be.destroy();
process.exitCode = failed ? 1 : 0;
