/**
 * Causal prefill (one request, 512…8192 tokens, GQA 32/8, d 128, f16) over the paged cache vs
 * PyTorch SDPA (flash) on contiguous K/V. Metric: TFLOP/s of the visible (causal) half.
 * Usage: node .build-attn/bench/attention-prefill.js [attention-anchors.json]
 * PREFILL_VARIANTS=tk32r8,tk48r8-rows64,… times tensor-core template variants: keys per tile,
 * lazy-rescale threshold (log2), then options (SgmatConfig's knobs, passed through BatchAttention's tuning) -rows<64|128>, -pair|-single
 * (32 or 16 rows a subgroup), -qk<16|32>|-pv<16|32> (the same in one product), -pp|-nopp
 * (ping-pong halves), -qa|-noqa (Q and the first K fetched at once), -fast|-nofast (the FMA
 * softmax of whole tiles), -restart|-check (rescaleMode), -rt<n> / -hr<n> (the restart threshold
 * and headroom, log2), -diag|-nodiag (diagonal tiles first); for the halves in step
 * -defer|-nodefer (P·V one tile late), -early|-late (K fetch), -latev|-nolatev (V fetched with
 * the K after it), -prepv (late fetches before P·V); -pe<n> (n of 16 exp2 per lane as FMA
 * polynomials), -scalar (scores), -masked (interior tiles), -g<grid>, -t<plan shares>,
 * -no<qk|softmax|pv|fetch|barrier|kcol|pages|cached|onecase|uload2|uload|ucheap|gbar>
 * (ablations: wrong results, for locating time). The first variant is the reported
 * configuration; the others get suffixed rows. PREFILL_LENS=1024,4096 picks lengths.
 */
import { readFileSync } from 'node:fs';
import { type BenchRow, anchorOf, cardName, readAnchors, row, timeGpu, writeResults } from './results.js';
import { causalFlops, describeSpot, openBench, pagedSetup, spotCheck } from './attention-common.js';
import { Check } from './verify.js';
import { SGMAT_DEFAULTS, type SgmatConfig, sgmatConfig } from '../src/attention/sgmat-config.js';

const cases = JSON.parse(readFileSync('bench/attention-cases.json', 'utf8')) as { prefill: number[] };
const lens = process.env.PREFILL_LENS ? process.env.PREFILL_LENS.split(',').map(Number) : cases.prefill;
const defaults = SGMAT_DEFAULTS;
// rows a subgroup multiplies in one product: -pair / -single set both, -qk<16|32> / -pv<16|32> one
const rowsOpt = (opts: string[], which: string): 16 | 32 | undefined => {
  const one = opts.map((o) => new RegExp(`^${which}(16|32)$`).exec(o)?.[1]).find(Boolean);
  if (one) return one === '32' ? 32 : 16;
  return opts.includes('pair') ? 32 : opts.includes('single') ? 16 : undefined;
};
const variants = (process.env.PREFILL_VARIANTS ?? `tk${defaults.tileKeys}r${defaults.rescaleLog2}`)
  .split(',')
  .map((v) => {
    const m = /^tk(\d+)r(\d+)((?:-[a-z]+[0-9a-z]*)*)$/.exec(v);
    if (!m)
      throw new Error(
        `PREFILL_VARIANTS: '${v}' is not tk<keys>r<log2>[-rows<64|128>][-pair|-single][-qk<16|32>][-pv<16|32>][-defer|-nodefer][-early|-late][-latev|-nolatev][-prepv][-pp|-nopp][-qa|-noqa][-fast|-nofast][-restart|-check][-rt<n>][-hr<n>][-diag|-nodiag][-pe<n>][-scalar][-masked][-g<grid>][-t<shares>][-no<qk|softmax|pv|fetch|barrier|kcol|pages|cached|onecase|uload2|uload|ucheap|gbar>…]`,
      );
    const opts = m[3]!.split('-').filter(Boolean);
    const num = (re: RegExp) => {
      const x = opts.map((o) => re.exec(o)?.[1]).find(Boolean);
      return x ? Number(x) : undefined;
    };
    const ablate = opts
      .map((o) => /^no(qk|softmax|pv|fetch|barrier|kcol|pages|cached|onecase|uload2|uload|ucheap|gbar)$/.exec(o)?.[1])
      .filter(Boolean)
      .join('+');
    return {
      name: v,
      grid: num(/^g(\d+)$/),
      targetItems: num(/^t(\d+)$/),
      tuning: sgmatConfig({
        tileKeys: Number(m[1]),
        rows: num(/^rows(\d+)$/) ?? defaults.rows,
        rescaleLog2: Number(m[2]),
        qkRows: rowsOpt(opts, 'qk') ?? defaults.qkRows,
        pvRows: rowsOpt(opts, 'pv') ?? defaults.pvRows,
        deferPv: opts.includes('defer') || (defaults.deferPv && !opts.includes('nodefer')),
        earlyFetch: opts.includes('early') || (defaults.earlyFetch && !opts.includes('late')),
        lateV: opts.includes('latev') || opts.includes('prepv') || (defaults.lateV && !opts.includes('nolatev')),
        fetchBeforePv: opts.includes('prepv') || (defaults.fetchBeforePv && !opts.includes('nolatev')),
        qAhead: opts.includes('qa') || (defaults.qAhead && !opts.includes('noqa')),
        pingPong: opts.includes('pp') || (defaults.pingPong && !opts.includes('nopp')),
        fastSoftmax: opts.includes('fast') || (defaults.fastSoftmax && !opts.includes('nofast')),
        rescaleMode: opts.includes('restart') ? 'restart' : opts.includes('check') ? 'check' : defaults.rescaleMode,
        restartLog2: num(/^rt(\d+)$/) ?? defaults.restartLog2,
        restartHeadroom: num(/^hr(\d+)$/) ?? defaults.restartHeadroom,
        diagFirst: opts.includes('diag') || (defaults.diagFirst && !opts.includes('nodiag')),
        polyExp: num(/^pe(\d+)$/) ?? defaults.polyExp,
        ssVec4: !opts.includes('scalar'),
        interiorNoMask: !opts.includes('masked'),
        ablate,
      }) satisfies SgmatConfig,
    };
  });
const be = await openBench();
const card = cardName(be);
const anchors = readAnchors(process.argv[2], card);
const check = new Check('attention-prefill');
// ablated variants (-no…) compute wrong results on purpose, for locating time: never a result file
const ablated = variants.filter((v) => v.tuning.ablate).map((v) => v.name);
if (ablated.length) console.log(`ablations ${ablated.join(', ')} compute wrong results: printed only, no result file`);
const rows: BenchRow[] = [];
const notes: string[] = [];

for (const [vi, v] of variants.entries()) {
  const over = {
    tuning: { sgmat: v.tuning },
    ...(v.grid ? { grid: v.grid } : {}),
    ...(v.targetItems ? { targetItems: v.targetItems } : {}),
  };
  let e = { o: NaN, lse: NaN, oTol: NaN, lseTol: NaN };
  let path: string;
  try {
    const first = pagedSetup(be, [512], [512], over);
    first.attn.run(first.q, first.pool, first.o, first.lse);
    e = await spotCheck(be, first, [512], { causal: true });
    const t = v.tuning;
    const plan = first.attn.lastPlan!;
    path =
      first.attn.attrs.tileRows >= 64
        ? `tensor cores (f16 subgroup matrices, ${first.attn.attrs.tileRows} rows × ${t.tileKeys} keys per tile, ${t.qkRows}/${t.pvRows} rows a subgroup in Q·Kᵀ/P·V, ${t.pingPong ? 'ping-pong halves, K/V fetched at the top of the iteration' : `halves in step, P·V ${t.deferPv ? 'deferred' : 'in step'}, ${t.earlyFetch && !t.lateV ? 'early' : 'late'} K fetch, ${t.lateV ? `late V fetch${t.fetchBeforePv ? ' (before P·V)' : ''}` : 'early V fetch'}`}, ${t.qAhead ? 'Q and the first K fetched at once' : 'Q a pass at a time'},${t.fastSoftmax ? ' FMA softmax,' : ''}${t.rescaleMode === 'restart' ? ` no rescale in the loop (${t.diagFirst ? 'diagonal tiles first, ' : ''}items restart past 2^${t.restartLog2 + t.restartHeadroom}),` : ''} lazy rescale > 2^${t.rescaleLog2}, scores ${t.ssVec4 ? 'vec4' : 'scalar'}, interior tiles ${t.interiorNoMask ? 'unmasked' : 'masked'}, grid ${first.attn.attrs.grid}, L512 plan: ${plan.items.length} items, ${plan.merges} merges${t.polyExp ? `, ${t.polyExp} of 16 exp2 as polynomials` : ''}${t.ablate ? `, ABLATED ${t.ablate}` : ''})`
        : `f32 template (${first.attn.attrs.tileRows}-row tiles)`;
    first.free();
  } catch (err) {
    check.that(false, `${v.name} runs`, (err as Error).message.split('\n').slice(0, 6).join(' | '));
    continue;
  }
  if (!v.tuning.ablate)
    check.that(e.oTol <= 1 && e.lseTol <= 1, `${v.name} causal L512 within tolerance of float64`, describeSpot(e));
  notes.push(`${vi === 0 ? '' : `${v.name}: `}path: ${path}; check L512: ${describeSpot(e)}`);
  console.log(notes[notes.length - 1]);
  for (const L of lens) {
    const s = pagedSetup(be, [L], [L], over);
    const ms = await timeGpu(be, () => s.attn.run(s.q, s.pool, s.o, s.lse), 1, 40, 5);
    const tf = causalFlops(L) / ms / 1e9;
    const { value: a, why } = anchorOf(anchors, `prefill L${L}`);
    rows.push(
      row({
        case: `causal L${L} gqa32/8 d128 f16${vi === 0 ? '' : ` [${v.name}]`}`,
        metric: 'TFLOP/s',
        higherIsBetter: true,
        ours: tf,
        anchor: a ? causalFlops(L) / a / 1e9 : null,
        anchorName: a ? 'torch sdpa' : null,
        limit: null,
        limitName: null,
        anchorWhyNull: why,
      }),
    );
    console.log(
      `${v.name} L${L}: ${ms.toFixed(3)} ms, ${tf.toFixed(1)} TFLOP/s, ${s.attn.lastPlan!.items.length} items, ${s.attn.lastPlan!.merges} merges${a ? `, sdpa ${a.toFixed(3)} ms (${(a / ms).toFixed(2)}x)` : ''}`,
    );
    s.free();
  }
}
if (ablated.length) process.exit(0);
writeResults('attention-prefill', card, rows, notes.join('; '), check.passed());
be.destroy();
