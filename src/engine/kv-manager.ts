/**
 * KV page bookkeeping for sequences: admission with prefix reuse, growth, release, and feeding
 * full pages into the prefix cache. Allocation evicts cached pages before it fails, and it never
 * hands out more than the runner's `numPages`.
 */
import { PagePool } from './page-pool.js';
import { PrefixCache } from './prefix-cache.js';
import type { Sequence } from './sequence.js';

export class KvManager {
  readonly pool: PagePool;
  readonly cache: PrefixCache;

  constructor(
    numPages: number,
    readonly pageSize: number,
    readonly prefixCaching = true,
  ) {
    this.pool = new PagePool(numPages);
    this.cache = new PrefixCache(this.pool, pageSize);
  }

  pagesFor(tokens: number): number {
    return Math.ceil(tokens / this.pageSize);
  }

  /** Pages obtainable now: free ones plus cached ones nobody else holds. */
  available(): number {
    return this.pool.freeCount + this.cache.evictableCount();
  }

  /** `n` pages (evicting least recently used cached pages if needed), or null with nothing taken. */
  allocate(n: number): number[] | null {
    if (n <= 0) return [];
    if (this.pool.freeCount < n) this.cache.evict(n - this.pool.freeCount);
    return this.pool.allocate(n);
  }

  /** Grows `seq.pages` to cover `tokens` positions; false (nothing taken) when pages ran out. */
  ensureCapacity(seq: Sequence, tokens: number): boolean {
    const extra = this.allocate(this.pagesFor(tokens) - seq.pages.length);
    if (!extra) return false;
    seq.pages.push(...extra);
    return true;
  }

  /**
   * Gives a waiting sequence pages for all its tokens, reusing cached prefix pages; keeps
   * `reserve` pages obtainable for running sequences. False (nothing taken) when it does not fit.
   */
  admit(seq: Sequence, reserve: number): boolean {
    // At least the last token must be computed: its logits pick the next token.
    const match = this.caches(seq) ? this.cache.match(seq.tokens, seq.tokens.length - 1) : null;
    const reused = match?.pages ?? [];
    const need = this.pagesFor(seq.tokens.length) - reused.length;
    const fresh = this.available() - need >= reserve ? this.allocate(need) : null;
    if (!fresh) {
      for (const p of reused) this.pool.release(p);
      return false;
    }
    seq.pages = [...reused, ...fresh];
    seq.numComputed = match?.tokens ?? 0;
    seq.cachedPages = reused.length;
    seq.cacheNode = match?.node ?? null;
    if (this.caches(seq)) this.cache.recordLookup(seq.tokens.length, seq.numComputed);
    // Reported to the client as cached prompt tokens: the first admission's reuse.
    if (seq.request.cachedTokens < 0) seq.request.cachedTokens = seq.numComputed;
    return true;
  }

  /** Puts newly completed full pages of `seq` into the prefix cache (possibly switching to cached copies). */
  cacheFullPages(seq: Sequence): void {
    // a sequence in long-context mode has given some pages back: its page list is no prefix to share
    if (!this.caches(seq) || seq.longContext) return;
    const full = Math.floor(seq.numComputed / this.pageSize);
    if (full <= seq.cachedPages) return;
    seq.cacheNode = this.cache.insert(seq.cacheNode ?? this.cache.root, seq.tokens, seq.pages, seq.cachedPages, full);
    seq.cachedPages = full;
  }

  /**
   * Whether `seq`'s full pages go through the prefix cache. The cache is keyed by tokens alone, and
   * KV computed under a LoRA adapter differs from the base model's, so adapter requests neither
   * reuse nor publish pages.
   */
  private caches(seq: Sequence): boolean {
    return this.prefixCaching && seq.request.params.adapter === undefined;
  }

  /** Called with a sequence before its pages are released (long-context mode drops its CPU store). */
  onRelease: ((seq: Sequence) => void) | null = null;

  /** Drops all of `seq`'s pages (cached ones stay in the cache); its KV must be recomputed to run again. */
  release(seq: Sequence): void {
    this.onRelease?.(seq);
    // −1: a page moved to the long-context store, already back in the pool
    for (const p of seq.pages) if (p !== -1) this.pool.release(p);
    seq.pages = [];
    seq.numComputed = 0;
    seq.cachedPages = 0;
    seq.cacheNode = null;
  }
}
