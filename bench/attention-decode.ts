/**
 * Batch decode over the paged KV cache vs PyTorch SDPA on contiguous KV (same card, same run):
 * batch 1…256, KV 512…32K, uniform and skewed (one 32K request + 63 of 512), GQA 32/8, d 128, f16.
 * Metric: achieved GB/s (K and V read once, q/o/lse) against the measured copy bandwidth.
 * Usage: node .build-attn/bench/attention-decode.js [attention-anchors.json]
 * ATTN_VARIANTS="tiled,u2,u4g528,…" also times other kernel choices on the uniform cases (a table
 * only; the JSON is the library default): `tiled` = the old staged template, `uN` = N keys per slot
 * per step in the streaming template, `gN` = a grid of N workgroups, `tN` = plan for N work items, `m0` = no merge dispatch (timing only),
 * `hnd` = the HND pool layout (one head's tokens of a page contiguous), `pN` = pages of N tokens, `seq` = pages in pool order,
 * `r0` = every lane finishes every row's scores (row scatter off), `n0` = no loading of the next item's record
 * during the current one, `sh` = the slots merged through workgroup memory (StreamConfig.slotMerge 'shared'), `xp` / `xm` / `xq` = no page-table lookup / no slot merge / no query loads (wrong results).
 */
import { readFileSync } from 'node:fs';
import { measureCopy } from './copy.js';
import { type BenchRow, anchorOf, cardName, readAnchors, row, timeGpu, writeResults } from './results.js';
import { PAGE, decodeBytes, describeSpot, openBench, pagedSetup, spotCheck } from './attention-common.js';
import { Check } from './verify.js';
import { pageRows } from '../src/attention/batch-gen.js';
import { streamConfig } from '../src/attention/stream-config.js';

const cases = JSON.parse(readFileSync('bench/attention-cases.json', 'utf8')) as {
  decode: [number, number][];
  skew: Record<string, number[]>;
};
const be = await openBench();
const card = cardName(be);
const anchors = readAnchors(process.argv[2], card);
const check = new Check('attention-decode');
const copy = await measureCopy(be, 1024 * 2 ** 20, check);
const rows: BenchRow[] = [];
const notes: string[] = [];

// correctness on the device first: an unsplit and a split plan against float64
for (const L of [512, 4096]) {
  const s = pagedSetup(be, [1], [L], { decode: true });
  s.attn.run(s.q, s.pool, s.o, s.lse);
  const e = await spotCheck(be, s, [1], { causal: true });
  check.that(
    e.oTol <= 1 && e.lseTol <= 1,
    `decode L${L} (${s.attn.lastPlan!.merges ? 'split' : 'unsplit'}) within tolerance of float64`,
    describeSpot(e),
  );
  s.free();
}

const uniform = new Map<number, number>();
async function measure(label: string, key: string, kvLens: number[]): Promise<number> {
  const s = pagedSetup(
    be,
    kvLens.map(() => 1),
    kvLens,
    { decode: true },
  );
  const ms = await timeGpu(be, () => s.attn.run(s.q, s.pool, s.o, s.lse));
  const bytes = decodeBytes(kvLens);
  const gbps = bytes / ms / 1e6;
  const { value: a, why } = anchorOf(anchors, key);
  rows.push(
    row({
      case: `${label} gqa32/8 d128 f16`,
      metric: 'GB/s',
      higherIsBetter: true,
      ours: gbps,
      anchor: a ? bytes / a / 1e6 : null,
      anchorName: a ? 'torch sdpa' : null,
      limit: copy.gbps,
      limitName: 'copy bandwidth',
      anchorWhyNull: why,
    }),
  );
  console.log(
    `${label}: ${ms.toFixed(4)} ms, ${gbps.toFixed(0)} GB/s, chunk ${s.attn.lastPlan!.kvChunk}, items ${s.attn.lastPlan!.items.length}${a ? `, sdpa ${a.toFixed(4)} ms` : ''}`,
  );
  s.free();
  return gbps;
}

// tuning table first (each variant on every uniform case), then the library default for the JSON
const variants = (process.env.ATTN_VARIANTS ?? '').split(',').filter(Boolean);
if (variants.length) {
  const table: string[] = [];
  const tableCases: [string, number[]][] = [
    ...cases.decode.map(([b, L]): [string, number[]] => [`b${b} L${L}`, Array(b).fill(L) as number[]]),
    ...Object.entries(cases.skew),
  ];
  for (const [label, kvLens] of tableCases) {
    const cells: string[] = [];
    for (const v of variants) {
      const stream = streamConfig({
        disable: v === 'tiled',
        keysPerSlot: Number(/u(\d+)/.exec(v)?.[1] ?? 8),
        skipMerge: /m0/.test(v),
        rowScatter: !/r0/.test(v),
        nextRecord: !/n0/.test(v),
        slotMerge: /sh/.test(v) ? 'shared' : 'subgroup',
        ablate: ['pages', 'merge', 'query'].filter((a) => v.includes(`x${a[0]}`)).join('+'),
      });
      const num = (re: RegExp): number | undefined => {
        const m = re.exec(v);
        return m ? Number(m[1]) : undefined;
      };
      const [grid, targetItems, pageSize] = [num(/g(\d+)/), num(/t(\d+)/), num(/p(\d+)/)];
      const page = pageSize ?? PAGE;
      const pages = kvLens.reduce((a, l) => a + Math.ceil(l / page), 0);
      // `seq`: every request's pages in pool order (no fragmentation), against the default's scrambled order
      const inOrder = /seq/.test(v)
        ? pageRows(
            kvLens,
            page,
            Array.from({ length: pages }, (_, i) => i),
          )
        : undefined;
      const s = pagedSetup(
        be,
        kvLens.map(() => 1),
        kvLens,
        {
          decode: true,
          tuning: { stream },
          layout: /hnd/.test(v) ? 'HND' : 'NHD',
          ...(grid ? { grid } : {}),
          ...(targetItems ? { targetItems } : {}),
          ...(pageSize ? { pageSize } : {}),
          ...(inOrder ? { numPages: pages } : {}),
        },
        inOrder,
      );
      const ms = await timeGpu(be, () => s.attn.run(s.q, s.pool, s.o, s.lse));
      cells.push((decodeBytes(kvLens) / ms / 1e6).toFixed(0).padStart(6));
      s.free();
    }
    table.push(`${label.slice(0, 12).padEnd(12)} ${cells.join(' ')}`);
  }
  console.log(`GB/s by variant\n${''.padEnd(12)} ${variants.map((v) => v.padStart(6)).join(' ')}\n${table.join('\n')}`);
}

for (const [b, L] of cases.decode)
  uniform.set(b * L, await measure(`b${b} L${L}`, `decode b${b} L${L}`, Array(b).fill(L)));
for (const [name, lens] of Object.entries(cases.skew)) {
  const gbps = await measure(`skew ${name}`, `decode skew ${name}`, lens);
  // the uniform batch of the same size and mean length, from this run
  const b = lens.length;
  const mean = Math.round(lens.reduce((a, x) => a + x, 0) / b / 512) * 512;
  const u = await measure(`b${b} L${mean} (uniform twin)`, `decode b${b} L${mean}`, Array(b).fill(mean));
  notes.push(`skew ${name}: ${(gbps / u).toFixed(3)}× the uniform b${b} L${mean} bandwidth`);
}
notes.push(`copy ${copy.gbps.toFixed(0)} GB/s (${copy.variant}); anchors ${anchors.whyNull ?? 'torch sdpa, this run'}`);
writeResults('attention-decode', card, rows, notes.join('; '), check.passed());
be.destroy();
