/**
 * The Llama runner's long-context mode (src/longctx, issue 24): per sequence a CPU store of the KV
 * pages the engine moved off the GPU (one `LshKvStream` per layer and KV head), and the attention
 * of a layer for such a sequence: the GPU attends the pages still on it (sinks and the recent
 * window) as usual, the CPU attends the store under the mode's policy (LSH sampling, or exactly for
 * dense layers), and the two states merge by their log-sum-exp.
 *
 * The dropped pages precede every page left on the GPU and every new token, so the GPU kernel's
 * causal offsets (counted from the end of a row) stay right over the shortened page row, and RoPE
 * is already in the stored keys. The query rows are read back as soon as they are projected and
 * the device's attention is submitted before the CPU part starts, so the two overlap; the CPU's
 * states go to the device and merge there, so a layer waits for one readback (q), not two.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import type { ForwardBatch, LongContextRunner } from '../../engine/model-runner.js';
import { HeapSimHash } from '../../longctx/heap-simhash.js';
import { type CpuShard, ShardPlanner } from '../../longctx/cpu-shards.js';
import { LshKvStream, streamBytes, streamBytesPerKey } from '../../longctx/kv-stream.js';
import { type LongContextOptions, checkLongContextOptions } from '../../longctx/options.js';
import { type MiddlePolicy, middleStates } from '../../longctx/policies.js';
import type { SampledTask } from '../../longctx/sampled-scan.js';
import { type DType, toFloat64, toHost } from '../../tensor/dtype.js';
import { gatherPages } from './long-context-pages.js';
import { Rng } from '../../util/rng.js';
import type { LlamaConfig } from './llama-config.js';
import { StepError } from './step-rows.js';

/** Pages gathered, hashed and read back at a time (bounds the device scratch of a long move). */
const OFFLOAD_PAGES = 256;

interface SeqStore {
  /** [layer][kv head] */
  readonly streams: LshKvStream[][];
  /** Position of the store's first token. */
  readonly first: number;
  /** Each layer's memory and the bytes reserved there. */
  readonly placed: { shard: CpuShard; bytes: number }[];
}

/** The two partial states of a layer's attention on the device, before `merge_states`. */
interface MergeScratch {
  readonly deviceO: Tensor;
  readonly deviceLse: Tensor;
  readonly middleO: Tensor;
  readonly middleLse: Tensor;
  /** The queries' projections on the directions [n·H, L·K] and their codes u32 [n·H, ⌈L/2⌉]; null for K = 0. */
  readonly proj: Tensor | null;
  readonly codes: Tensor | null;
}

export class LlamaLongContext implements LongContextRunner {
  private opts: LongContextOptions | null = null;
  private hash: HeapSimHash | null = null;
  private readonly stores = new Map<number, SeqStore>();
  /** Stores live in CPU memories of their own: an 8B model's store passes wasm32's 4 GiB quickly. */
  private readonly shards = new ShardPlanner();
  /** The SimHash directions on the device by dtype (keys and queries are hashed there); made when first needed. */
  private readonly directions = new Map<DType, Tensor>();
  /** This step's token rows of sequences in the mode, with their stores. */
  private rows: { row: number; store: SeqStore }[] = [];
  /** Middle parts computed and merged, and the keys they covered and attended (tests and benches read them). */
  readonly stats = { merges: 0, offloadedPages: 0, middleTasks: 0, middleKeys: 0, middleCandidates: 0 };
  /**
   * Host milliseconds of the layers with a CPU part since `resetTimes`: `qReadMs` from the read of
   * q being issued to q and its codes on the host (the device finishing the layer's work so far,
   * plus the map round trip); `middleMs` the CPU part, of which `hashMs` placing the queries' codes
   * (or hashing them, where the device did not) and `scanMs` scanning the stores; `mergeMs` handing
   * the CPU's states to the device with the merge enqueued.
   */
  readonly times = { layers: 0, qReadMs: 0, middleMs: 0, hashMs: 0, scanMs: 0, mergeMs: 0 };
  /** The merge's device tensors by step shape (`scratchFor`). */
  private readonly scratch = new Map<string, MergeScratch>();

  constructor(
    private readonly backend: Backend,
    private readonly cfg: LlamaConfig,
    private readonly pools: readonly Tensor[],
    private readonly layout: 'NHD' | 'HND',
    private readonly pageSize: number,
  ) {}

  configure(o: LongContextOptions): void {
    checkLongContextOptions(o);
    if (this.stores.size > 0) throw new Error('long-context mode reconfigured while sequences hold stores');
    this.hash?.destroy();
    this.freeDevice();
    this.opts = o;
    this.hash = new HeapSimHash(this.cfg.headDim, {
      bits: o.K,
      tables: o.L,
      minCollisions: o.minCollisions ?? 2,
      seed: o.seed ?? 0,
    });
  }

  /** A sequence's store, made on first use with room for positions [first, capacity), one memory per layer's streams. */
  private store(id: number, first: number, capacity: number): SeqStore {
    const have = this.stores.get(id);
    if (have) return have;
    if (!this.hash || !this.opts) throw new StepError('long-context mode used before configure()');
    const { headDim: D, numKvHeads } = this.cfg;
    const group = this.cfg.numHeads / numKvHeads;
    const hash = this.hash;
    const keys = Math.max(1, capacity - first);
    const bytes = numKvHeads * streamBytes(keys, D, D, this.opts.L, this.opts.K);
    const placed = this.pools.map(() => ({ shard: this.shards.place(bytes), bytes }));
    const streams = placed.map(({ shard }) =>
      Array.from({ length: numKvHeads }, () => new LshKvStream(hash, D, group, shard, keys)),
    );
    const s = { streams, first, placed };
    this.stores.set(id, s);
    return s;
  }

  async offload(id: number, pages: readonly number[], firstIndex: number, capacity: number): Promise<void> {
    if (pages.length === 0) return;
    const P = this.pageSize;
    const s = this.store(id, firstIndex * P, capacity);
    const end = s.first + s.streams[0]![0]!.n;
    if (firstIndex * P !== end)
      throw new StepError(`long-context store ${id} ends at position ${end}; pages offered from ${firstIndex * P}`);
    for (let at = 0; at < pages.length; at += OFFLOAD_PAGES)
      await this.offloadChunk(s, pages.slice(at, at + OFFLOAD_PAGES));
    this.stats.offloadedPages += pages.length;
  }

  /**
   * The SimHash directions on the device in `dtype` (default the pools'): keys are hashed there as
   * they leave and queries as they are projected (a matmul against the directions, then
   * `simhash_pack`), so only codes cross to the host; the directions are f16 values, so every
   * dtype hashes with the same vectors as the host would.
   */
  private deviceDirections(dtype: DType = this.pools[0]!.dtype): Tensor | null {
    const { K, L } = this.opts!;
    if (K === 0) return null;
    const have = this.directions.get(dtype);
    if (have) return have;
    const t = this.backend.alloc({ dtype, shape: [L * K, this.cfg.headDim] }, `longctx.directions.${dtype}`);
    this.backend.write(t, toHost(dtype, this.hash!.simhash.directions));
    this.directions.set(dtype, t);
    return t;
  }

  /** Gathers `pages` of every layer with their keys' codes (hashed on the device), and appends them to the store. */
  private async offloadChunk(s: SeqStore, pages: readonly number[]): Promise<void> {
    const { K, L } = this.opts!;
    const moved = await gatherPages(this.backend, this.pools, this.layout, pages, this.deviceDirections(), K, L);
    const n = pages.length * this.pageSize;
    moved.forEach((heads, layer) =>
      heads.forEach(({ keys, values, codes }, h) => s.streams[layer]![h]!.append(keys, values, n, codes)),
    );
  }

  /**
   * For benchmarks: the store of sequence `id` as if its pages over positions [first, first +
   * tokens) had moved (`tokens` a multiple of the page size): seeded Gaussian K/V for the first
   * `base` positions, hashed as appended ones are, repeated to `tokens` (`LshKvStream.tileTo`).
   */
  synthesize(id: number, first: number, tokens: number, capacity: number, seed: number, base = 512): void {
    if (this.stores.has(id)) throw new Error(`long-context store ${id} exists`);
    const s = this.store(id, first, capacity);
    const rng = new Rng(seed);
    const D = this.cfg.headDim;
    const b = Math.min(base, tokens);
    for (const layer of s.streams)
      for (const st of layer) {
        st.append(rng.normals(b * D), rng.normals(b * D), b);
        st.tileTo(tokens);
      }
  }

  /** The stream of sequence `id`'s store for (layer, KV head) (tests read it). */
  stream(id: number, layer: number, kvHead: number): LshKvStream | undefined {
    return this.stores.get(id)?.streams[layer]?.[kvHead];
  }

  release(id: number): void {
    const s = this.stores.get(id);
    if (!s) return;
    for (const layer of s.streams) for (const st of layer) st.destroy();
    for (const p of s.placed) this.shards.release(p.shard, p.bytes);
    this.stores.delete(id);
  }

  bytes(): number {
    let n = 0;
    for (const s of this.stores.values()) for (const layer of s.streams) for (const st of layer) n += st.bytes;
    return n;
  }

  bytesPerToken(): number {
    const D = this.cfg.headDim;
    return this.cfg.numLayers * this.cfg.numKvHeads * streamBytesPerKey(D, D, this.opts?.L ?? 0, this.opts?.K ?? 0);
  }

  /**
   * Takes the step's sequences: for each in the mode, checks that its dropped pages (−1) are one
   * run [a, b) matching its store, and notes its token rows.
   */
  beginStep(batch: ForwardBatch): void {
    this.rows = [];
    let row = 0;
    batch.seqs.forEach((seq, i) => {
      const n = seq.tokens.length;
      if (seq.longContext !== undefined) {
        const dropped = seq.pages.flatMap((p, j) => (p === -1 ? [j] : []));
        const stored = this.stores.get(seq.longContext);
        if (dropped.length === 0) {
          if (stored && stored.streams[0]![0]!.n > 0)
            throw new StepError(`sequence ${i}: long-context store holds tokens but no page is marked moved`);
        } else {
          if (!stored)
            throw new StepError(`sequence ${i}: pages marked moved but no long-context store ${seq.longContext}`);
          const a = dropped[0]!;
          if (dropped.some((p, j) => p !== a + j))
            throw new StepError(`sequence ${i}: the moved pages must be one run of consecutive pages`);
          const first = a * this.pageSize;
          const held = stored.streams[0]![0]!.n;
          if (stored.first !== first || held !== dropped.length * this.pageSize)
            throw new StepError(
              `sequence ${i}: pages [${a}, ${a + dropped.length}) marked moved, the store holds positions [${stored.first}, ${stored.first + held})`,
            );
          for (let t = 0; t < n; t++) this.rows.push({ row: row + t, store: stored });
        }
      }
      row += n;
    });
  }

  /** Whether this step's attention of `layer` has a CPU part. */
  get active(): boolean {
    return this.rows.length > 0;
  }

  private policy(layer: number): MiddlePolicy {
    const o = this.opts!;
    return o.denseLayers?.includes(layer) ? { kind: 'exact' } : (o.policy ?? { kind: 'magicpig' });
  }

  /** Per-step scratch of the merge, by the step's rows and dtype (kept across steps: decode shapes are few). */
  private scratchFor(out: Tensor): MergeScratch {
    const [n, H, D] = out.shape as [number, number, number];
    const { K, L } = this.opts!;
    const key = `${out.dtype}:${n}`;
    const have = this.scratch.get(key);
    if (have) return have;
    const a = (dtype: Tensor['dtype'], shape: number[], label: string) =>
      this.backend.alloc({ dtype, shape }, `longctx.${label}`, 'activations');
    const made = {
      deviceO: a(out.dtype, [n, H, D], 'device_o'),
      deviceLse: a('f32', [n, H], 'device_lse'),
      middleO: a(out.dtype, [n, H, D], 'middle_o'),
      middleLse: a('f32', [n, H], 'middle_lse'),
      proj: K > 0 ? a(out.dtype, [n * H, L * K], 'query_proj') : null,
      codes: K > 0 ? a('u32', [n * H, Math.ceil(L / 2)], 'query_codes') : null,
    };
    this.scratch.set(key, made);
    return made;
  }

  /**
   * Layer `layer`'s attention for a step with rows in the mode, into `out` [n, H, D] and `lse`
   * [n, H] (base 2): `attendPages(o, lse)` enqueues the device's part (the pages left on it) and
   * is started before the CPU works on the store; the CPU's states go to the device and
   * `merge_states` combines the two there. One readback a layer (q), none of the device's state.
   * Rows not in the mode get the CPU state lse −∞, which the merge leaves exactly as the device wrote them.
   */
  async attend(
    layer: number,
    q: Tensor,
    out: Tensor,
    lse: Tensor,
    attendPages: (o: Tensor, lse: Tensor) => void,
  ): Promise<void> {
    const H = this.cfg.numHeads;
    const D = this.cfg.headDim;
    const group = H / this.cfg.numKvHeads;
    const n = q.shape[0]!;
    const t0 = performance.now();
    // submits the layer's work through the projection and copies q out
    const qHost = this.backend.read(q);
    const m = this.scratchFor(out);
    attendPages(m.deviceO, m.deviceLse);
    const policy = this.policy(layer);
    const codesHost = policy.kind === 'magicpig' ? this.hashQueries(q, m) : null;
    // the device attends the window while the CPU scans the store
    this.backend.submit?.();
    const qs = toFloat64(q.dtype, await qHost);
    const packed = codesHost ? await codesHost : null;
    const t1 = performance.now();
    this.times.qReadMs += t1 - t0;
    const scale = 1 / Math.sqrt(D);
    // one task per (row, head); rows of one sequence share its scratch, so they go in separate waves
    const waves: { row: number; h: number; task: SampledTask }[][] = [];
    const wave = new Map<SeqStore, number>();
    for (const { row, store } of this.rows) {
      const w = wave.get(store) ?? 0;
      wave.set(store, w + 1);
      waves[w] ??= [];
      for (let h = 0; h < H; h++) {
        const stream = store.streams[layer]![Math.floor(h / group)]!;
        const qRow = qs.subarray((row * H + h) * D, (row * H + h + 1) * D);
        const task: SampledTask = { stream, group: h % group, q: qRow, lo: 0, hi: stream.n };
        waves[w]!.push({ row, h, task: packed ? { ...task, codes: packed(row * H + h) } : task });
      }
    }
    const parts = waves.map((ts) =>
      middleStates(
        ts.map((t) => t.task),
        scale,
        policy,
        this.times,
      ),
    );
    const t2 = performance.now();
    this.times.middleMs += t2 - t1;
    const o = new Float64Array(n * H * D);
    const l = new Float32Array(n * H).fill(-Infinity);
    waves.forEach((ts, w) =>
      ts.forEach(({ task, row, h }, j) => {
        const part = parts[w]![j]!;
        this.stats.middleTasks++;
        this.stats.middleKeys += task.hi - task.lo;
        this.stats.middleCandidates += part.candidates;
        if (part.lse === -Infinity) return;
        const at = row * H + h;
        l[at] = part.lse;
        for (let e = 0; e < D; e++) o[at * D + e] = part.o[e]!;
      }),
    );
    // in the output's dtype, as merge_states takes both states (f16 activations: the CPU's part is
    // rounded once more before the merge, as the device's own part is)
    this.backend.write(m.middleO, toHost(out.dtype, o));
    this.backend.write(m.middleLse, l);
    this.backend.run('merge_states', {}, [m.deviceO, m.deviceLse, m.middleO, m.middleLse], [out, lse]);
    this.times.mergeMs += performance.now() - t2;
    this.times.layers++;
    this.stats.merges++;
  }

  /**
   * Enqueues the SimHash codes of every query row of q [n, H, D] (a matmul against the directions,
   * then `simhash_pack`, as keys are hashed when they move) and reads them back; resolves with a
   * row's L codes by its index in [n·H). Null for K = 0, where every key is a candidate.
   */
  private hashQueries(q: Tensor, m: MergeScratch): Promise<(row: number) => Uint16Array> | null {
    const dirs = this.deviceDirections(q.dtype);
    if (!dirs || !m.proj || !m.codes) return null;
    const { K, L } = this.opts!;
    const [n, H, D] = q.shape as [number, number, number];
    const rows = this.backend.view(q, [n * H, D]);
    this.backend.run('matmul', { transB: true, outDtype: q.dtype }, [rows, dirs], [m.proj]);
    this.backend.run('simhash_pack', { bits: K, tables: L }, [m.proj], [m.codes]);
    const words = Math.ceil(L / 2);
    return this.backend.read(m.codes).then((raw) => {
      // u32 [rows, ⌈L/2⌉] read as u16: row r's L codes start at u16 index 2·words·r
      const u16 = new Uint16Array(raw.buffer, raw.byteOffset, raw.length * 2);
      return (row: number) => u16.subarray(2 * words * row, 2 * words * row + L);
    });
  }

  /** Zeroes the phase times (benchmarks read them per timed window). */
  resetTimes(): void {
    Object.assign(this.times, { layers: 0, qReadMs: 0, middleMs: 0, hashMs: 0, scanMs: 0, mergeMs: 0 });
  }

  /** Frees the directions and the merge scratch (their shapes follow the configuration). */
  private freeDevice(): void {
    for (const m of this.scratch.values()) for (const t of Object.values(m)) if (t) this.backend.free(t);
    this.scratch.clear();
    for (const t of this.directions.values()) this.backend.free(t);
    this.directions.clear();
  }

  destroy(): void {
    for (const id of [...this.stores.keys()]) this.release(id);
    this.freeDevice();
    this.hash?.destroy();
  }
}
