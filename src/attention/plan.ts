/**
 * plan(): FlashInfer's load balancing, on the CPU, from the batch's lengths only.
 *
 * Work is cut into units — (request, row tile, KV head), a row being one (query token, query head
 * of the KV head's group), so GQA heads share every K/V load — and each unit's visible KV range
 * (causal and sliding-window bounds) into chunks no longer than the batch's fair share (all
 * visible keys / targetItems), so no CTA waits on one long item; items then go longest-first to
 * the least-loaded CTA, which runs its items one after another.
 * A unit cut into several chunks writes partial (o, lse) rows to a scratch area and a merge pass
 * combines them. Kernels take each request's query offset and lengths from the schedule (query
 * offsets are the prefix sums of `qoLens`, as qo_indptr must be), not from the indptr arrays. The schedule is a flat i32 array uploaded to the GPU; the grid and capacities
 * never change, so `run()` can be recorded into a dispatch stream and replayed with new plans.
 */

/** Words of the schedule header: magic, grid, tileRows, items, merges, chunk, batch, tmp rows, merge tasks. */
export const HEADER_WORDS = 9;
/**
 * An item: request, KV head, rows [r0, r1), keys [k0, k1), output slot, then the request's first
 * query token, query and KV lengths and first page-table entry (−1: read kv_indptr), so a kernel
 * starts streaming one dependent load sooner.
 */
export const ITEM_WORDS = 12;
/** A split unit: request, KV head, rows [r0, r1), first scratch row, chunks, the request's first query token, padding. */
export const MERGE_WORDS = 8;
export const SCHEDULE_MAGIC = 0x41544e31;

export interface ScheduleShape {
  /** Workgroups of the attention dispatch (fixed). */
  readonly grid: number;
  /** Capacity for work items (and for split units). */
  readonly maxItems: number;
  /** Rows of one work item's tile (the kernel is specialised on it). */
  readonly tileRows: number;
}

/**
 * The merge pass works through a task list, one word per task: `unit · 512 + 256 + r` merges rows
 * r…r+MERGE_BLOCK−1 of a unit split into at most MERGE_WIDE chunks (each thread folds whole rows);
 * `unit · 512 + r` merges row r alone of a unit split into more (the workgroup's chunk slices share
 * the row). Rows of a split long request so spread over the grid, and no task is visited only to
 * be skipped.
 */
export const MERGE_BLOCK = 32;
export const MERGE_WIDE = 8;
const mergeTaskCapacity = (maxItems: number, tileRows: number): number =>
  maxItems * (Math.ceil(tileRows / MERGE_BLOCK) + Math.ceil(tileRows / (MERGE_WIDE + 1)));

export function scheduleLength(s: Pick<ScheduleShape, 'grid' | 'maxItems' | 'tileRows'>): number {
  return (
    HEADER_WORDS +
    s.grid +
    1 +
    ITEM_WORDS * s.maxItems +
    MERGE_WORDS * s.maxItems +
    mergeTaskCapacity(s.maxItems, s.tileRows)
  );
}
export const itemsOffset = (grid: number): number => HEADER_WORDS + grid + 1;
export const mergeOffset = (grid: number, maxItems: number): number => itemsOffset(grid) + ITEM_WORDS * maxItems;
export const mergeTaskOffset = (grid: number, maxItems: number): number =>
  mergeOffset(grid, maxItems) + MERGE_WORDS * maxItems;

export interface PlanInput {
  readonly qoLens: readonly number[];
  readonly kvLens: readonly number[];
  readonly numQoHeads: number;
  readonly numKvHeads: number;
  readonly causal?: boolean;
  readonly windowLeft?: number;
  /** kv_indptr (each request's first page-table entry), written into the items; absent, kernels read it. */
  readonly pageStarts?: ArrayLike<number>;
}

export interface PlanOptions extends ScheduleShape {
  /** Chunk (tokens) forced instead of searched: 'none' never splits. Tests use it to compare plans. */
  readonly kvChunk?: number | 'none';
  /** The chunk never goes below this (splitting tiny ranges costs more merging than it saves). */
  readonly minChunk?: number;
  /**
   * Shares the batch's keys are divided into (default: the grid): about the number of CTAs that
   * saturate the device. The chunk is one share, all visible keys / targetItems, and a unit is split
   * only when longer than that: a CTA's items then take no longer than the whole batch streams at
   * full speed, and splitting further only adds merging (on the H100 a uniform b64 L512 decode
   * batch ran at 1630 GB/s split in two per unit against 2128 unsplit).
   */
  readonly targetItems?: number;
}

export interface WorkItem {
  readonly b: number;
  readonly kvHead: number;
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly kvStart: number;
  readonly kvEnd: number;
  /** −1: writes final rows; otherwise the first scratch row of its partial state. */
  readonly slot: number;
}

export interface AttentionPlan extends ScheduleShape {
  readonly schedule: Int32Array;
  readonly kvChunk: number;
  readonly items: readonly WorkItem[];
  readonly merges: number;
  /** Items per CTA, for inspecting the balance. */
  readonly ctaLoads: Float64Array;
}

export class PlanError extends Error {
  constructor(message: string, hint: string) {
    super(`${message}\n  → ${hint}`);
    this.name = 'PlanError';
  }
}

interface Unit {
  b: number;
  kvHead: number;
  rowStart: number;
  rowEnd: number;
  lo: number;
  hi: number;
}

function units(input: PlanInput, tileRows: number): Unit[] {
  const { qoLens, kvLens, numQoHeads, numKvHeads } = input;
  if (qoLens.length !== kvLens.length)
    throw new PlanError(
      `plan: ${qoLens.length} query lengths but ${kvLens.length} KV lengths`,
      'pass one of each per request',
    );
  if (numQoHeads % numKvHeads !== 0)
    throw new PlanError(
      `plan: ${numQoHeads} query heads not a multiple of ${numKvHeads} KV heads`,
      'GQA needs numQoHeads = k·numKvHeads',
    );
  const group = numQoHeads / numKvHeads;
  const out: Unit[] = [];
  qoLens.forEach((qLen, b) => {
    const kvLen = kvLens[b]!;
    if (!(Number.isInteger(qLen) && qLen >= 0 && Number.isInteger(kvLen) && kvLen >= 0))
      throw new PlanError(`plan: request ${b} has lengths q=${qLen}, kv=${kvLen}`, 'lengths are non-negative integers');
    // causal queries are the last qLen keys of their request; a non-causal pass (cascade's shared prefix) may have more queries than keys
    if (input.causal && qLen > kvLen)
      throw new PlanError(
        `plan: request ${b} has ${qLen} query tokens but only ${kvLen} KV tokens`,
        'append the new tokens to the KV cache before attention (the KV holds them too)',
      );
    const rows = qLen * group;
    for (let r0 = 0; r0 < rows; r0 += tileRows) {
      const r1 = Math.min(rows, r0 + tileRows);
      const qposMin = kvLen - qLen + Math.floor(r0 / group);
      const qposMax = kvLen - qLen + Math.floor((r1 - 1) / group);
      // the tile's visible key range: causal bounds the end, a sliding window the start
      const hi = input.causal ? Math.min(kvLen, qposMax + 1) : kvLen;
      const lo = Math.min(
        hi,
        input.windowLeft !== undefined && input.windowLeft >= 0 ? Math.max(0, qposMin - input.windowLeft) : 0,
      );
      for (let h = 0; h < numKvHeads; h++) out.push({ b, kvHead: h, rowStart: r0, rowEnd: r1, lo, hi });
    }
  });
  return out;
}

/** Each request's first query token: the prefix sums of `qoLens`, which is what qo_indptr holds (kernels read these offsets from the schedule). */
export function queryOffsets(qoLens: readonly number[]): number[] {
  const out = [0];
  for (const l of qoLens) out.push(out[out.length - 1]! + l);
  return out;
}

const chunksOf = (u: Unit, chunk: number): number => Math.max(1, Math.ceil((u.hi - u.lo) / chunk));

/** Assigns costs longest-first to the least-loaded of `bins` (a binary min-heap on load). */
export function assignLongestFirst(costs: readonly number[], bins: number): { bin: Int32Array; loads: Float64Array } {
  const order = costs.map((_, i) => i).sort((a, b) => costs[b]! - costs[a]! || a - b);
  const loads = new Float64Array(bins);
  const heap = Array.from({ length: bins }, (_, i) => i);
  const less = (a: number, b: number): boolean => loads[a]! < loads[b]! || (loads[a] === loads[b] && a < b);
  const bin = new Int32Array(costs.length);
  for (const i of order) {
    const top = heap[0]!;
    bin[i] = top;
    loads[top]! += costs[i]!;
    // sift the root down
    let k = 0;
    for (;;) {
      const l = 2 * k + 1;
      const r = l + 1;
      let m = k;
      if (l < bins && less(heap[l]!, heap[m]!)) m = l;
      if (r < bins && less(heap[r]!, heap[m]!)) m = r;
      if (m === k) break;
      [heap[k], heap[m]] = [heap[m]!, heap[k]!];
      k = m;
    }
  }
  return { bin, loads };
}

/** The KV chunk: forced by `kvChunk`, else the batch's fair share of keys, floored by `minChunk`, capped by the longest unit. */
function chooseChunk(us: readonly Unit[], opts: PlanOptions): number {
  const longest = us.reduce((m, u) => Math.max(m, u.hi - u.lo), 1);
  if (opts.kvChunk === 'none') return longest;
  if (opts.kvChunk !== undefined) {
    if (!(opts.kvChunk >= 1)) throw new PlanError(`plan: kvChunk ${opts.kvChunk}`, 'a chunk is at least one token');
    return opts.kvChunk;
  }
  const keys = us.reduce((a, u) => a + (u.hi - u.lo), 0);
  const fair = Math.ceil(keys / Math.max(1, opts.targetItems ?? opts.grid));
  return Math.min(longest, Math.max(fair, opts.minChunk ?? 256, 1));
}

/** Units cut into chunk-long items; a unit of several chunks gets scratch rows and a merge record (MERGE_WORDS). */
function cutIntoItems(
  us: readonly Unit[],
  chunk: number,
  tileRows: number,
  qStart: readonly number[],
): { items: WorkItem[]; merges: number[][]; scratchRows: number } {
  const items: WorkItem[] = [];
  const merges: number[][] = [];
  let slot = 0;
  for (const u of us) {
    const n = chunksOf(u, chunk);
    const first = n > 1 ? slot : -1;
    if (n > 1) {
      merges.push([u.b, u.kvHead, u.rowStart, u.rowEnd, slot, n, qStart[u.b]!, 0]);
      slot += n * tileRows;
    }
    for (let c = 0; c < n; c++) {
      const kvStart = Math.min(u.hi, u.lo + c * chunk);
      items.push({
        b: u.b,
        kvHead: u.kvHead,
        rowStart: u.rowStart,
        rowEnd: u.rowEnd,
        kvStart,
        kvEnd: Math.min(u.hi, kvStart + chunk),
        slot: n > 1 ? first + c * tileRows : -1,
      });
    }
  }
  return { items, merges, scratchRows: slot };
}

/** The merge pass's task words (see MERGE_BLOCK): one per row of a wide unit, one per row block of the others. */
function mergeTasks(merges: readonly number[][]): number[] {
  const tasks: number[] = [];
  merges.forEach(([, , r0, r1, , n], m) => {
    const rows = r1! - r0!;
    if (n! > MERGE_WIDE) for (let r = 0; r < rows; r++) tasks.push(m * 512 + r);
    else for (let r = 0; r < rows; r += MERGE_BLOCK) tasks.push(m * 512 + 256 + r);
  });
  return tasks;
}

/** The per-CTA item ranges, then the items laid out CTA by CTA, each CTA's longest first. */
function writeItems(
  schedule: Int32Array,
  input: PlanInput,
  grid: number,
  items: readonly WorkItem[],
  costs: readonly number[],
  bin: Int32Array,
  qStart: readonly number[],
): void {
  const perCta = new Int32Array(grid);
  for (let i = 0; i < items.length; i++) perCta[bin[i]!]!++;
  let acc = 0;
  for (let c = 0; c <= grid; c++) {
    schedule[HEADER_WORDS + c] = acc;
    if (c < grid) acc += perCta[c]!;
  }
  const fill = schedule.slice(HEADER_WORDS, HEADER_WORDS + grid);
  const order = items.map((_, i) => i).sort((a, b) => costs[b]! - costs[a]! || a - b);
  const base = itemsOffset(grid);
  for (const i of order) {
    const it = items[i]!;
    const at = base + ITEM_WORDS * fill[bin[i]!]!++;
    const pageStart = input.pageStarts ? input.pageStarts[it.b]! : -1;
    schedule.set(
      [
        it.b,
        it.kvHead,
        it.rowStart,
        it.rowEnd,
        it.kvStart,
        it.kvEnd,
        it.slot,
        qStart[it.b]!,
        input.qoLens[it.b]!,
        input.kvLens[it.b]!,
        pageStart,
        0,
      ],
      at,
    );
  }
}

export function planAttention(input: PlanInput, opts: PlanOptions): AttentionPlan {
  const { grid, maxItems, tileRows } = opts;
  if (!(grid >= 1 && maxItems >= 1 && tileRows >= 1))
    throw new PlanError(`plan: grid ${grid}, maxItems ${maxItems}, tileRows ${tileRows}`, 'all must be positive');
  const us = units(input, tileRows);
  const chunk = chooseChunk(us, opts);
  const qStart = queryOffsets(input.qoLens);
  const { items, merges, scratchRows } = cutIntoItems(us, chunk, tileRows, qStart);
  if (items.length > maxItems) {
    throw new PlanError(
      `plan: ${items.length} work items over the capacity of ${maxItems}`,
      'create the planner with a larger maxItems (or a larger tileRows) for batches this large',
    );
  }
  // cost: rows × keys, plus a fixed per-item overhead (loading Q, writing O)
  const costs = items.map((it) => (it.rowEnd - it.rowStart) * (it.kvEnd - it.kvStart + 32));
  const { bin, loads } = assignLongestFirst(costs, grid);
  const schedule = new Int32Array(scheduleLength(opts));
  const tasks = mergeTasks(merges);
  if (tileRows > 256)
    throw new PlanError(`plan: ${tileRows} rows per tile`, 'merge tasks keep a row in one byte: use at most 256');
  // a wide unit has more than MERGE_WIDE items, so with items ≤ maxItems the capacity always holds
  if (tasks.length > mergeTaskCapacity(maxItems, tileRows))
    throw new Error(`plan: internal error, ${tasks.length} merge tasks over the capacity`);
  schedule.set([
    SCHEDULE_MAGIC,
    grid,
    tileRows,
    items.length,
    merges.length,
    chunk,
    input.qoLens.length,
    scratchRows,
    tasks.length,
  ]);
  writeItems(schedule, input, grid, items, costs, bin, qStart);
  const mBase = mergeOffset(grid, maxItems);
  merges.forEach((m, i) => schedule.set(m, mBase + MERGE_WORDS * i));
  schedule.set(tasks, mergeTaskOffset(grid, maxItems));
  return { grid, maxItems, tileRows, schedule, kvChunk: chunk, items, merges: merges.length, ctaLoads: loads };
}
