/**
 * Host-side page allocator for one KV pool: requests grow page by page, free their pages when
 * done, and the batch's BSR arrays (`indptr`, `indices`, `lastPageLen`) are read off for a step.
 * Sharing a prefix (cascade, parallel sampling) is expressed by handing the same page ids to
 * several requests; the allocator counts references so shared pages are freed last.
 */
import { PageTableError } from './kv-layout.js';

export interface BsrRows {
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly lastPageLen: Int32Array;
  /** Tokens of each request. */
  readonly lengths: number[];
}

export class PageTable {
  private readonly free: number[] = [];
  private readonly refs: Uint32Array;
  private readonly requests = new Map<number, { pages: number[]; length: number }>();

  constructor(
    readonly numPages: number,
    readonly pageSize: number,
  ) {
    if (!(pageSize >= 1 && pageSize <= 64)) throw new PageTableError(`page size ${pageSize} outside 1…64`);
    this.refs = new Uint32Array(numPages);
    for (let p = numPages - 1; p >= 0; p--) this.free.push(p);
  }

  get freePages(): number {
    return this.free.length;
  }

  /** Starts a request, optionally on pages shared with others (a full-page prefix). */
  add(id: number, sharedPages: readonly number[] = [], sharedLength = sharedPages.length * this.pageSize): void {
    if (this.requests.has(id)) throw new PageTableError(`request ${id} already exists`);
    if (sharedLength > sharedPages.length * this.pageSize)
      throw new PageTableError(`shared length ${sharedLength} over the ${sharedPages.length} shared pages`);
    for (const p of sharedPages) {
      if (p < 0 || p >= this.numPages || this.refs[p] === 0)
        throw new PageTableError(`shared page ${p} is not allocated`);
      this.refs[p]!++;
    }
    this.requests.set(id, { pages: [...sharedPages], length: sharedLength });
  }

  /** Reserves room for `tokens` more tokens of request `id`; throws (allocating nothing) when the pool is full. */
  grow(id: number, tokens: number): void {
    const r = this.get(id);
    const need = Math.ceil((r.length + tokens) / this.pageSize) - r.pages.length;
    if (need > this.free.length)
      throw new PageTableError(
        `request ${id} needs ${need} more pages, ${this.free.length} free (pool of ${this.numPages})`,
      );
    for (let i = 0; i < need; i++) {
      const p = this.free.pop()!;
      this.refs[p] = 1;
      r.pages.push(p);
    }
    r.length += tokens;
  }

  pages(id: number): readonly number[] {
    return this.get(id).pages;
  }

  length(id: number): number {
    return this.get(id).length;
  }

  release(id: number): void {
    const r = this.get(id);
    for (const p of r.pages) if (--this.refs[p]! === 0) this.free.push(p);
    this.requests.delete(id);
  }

  /** The BSR rows of `ids`, in order. */
  rows(ids: readonly number[]): BsrRows {
    const indptr = new Int32Array(ids.length + 1);
    const all: number[] = [];
    const lastPageLen = new Int32Array(ids.length);
    const lengths: number[] = [];
    ids.forEach((id, b) => {
      const r = this.get(id);
      // a request may hold a page reserved ahead; only pages that hold tokens are in its row
      const used = Math.ceil(r.length / this.pageSize);
      all.push(...r.pages.slice(0, used));
      indptr[b + 1] = all.length;
      lastPageLen[b] = used === 0 ? 0 : r.length - (used - 1) * this.pageSize;
      lengths.push(r.length);
    });
    return { indptr, indices: Int32Array.from(all), lastPageLen, lengths };
  }

  private get(id: number): { pages: number[]; length: number } {
    const r = this.requests.get(id);
    if (!r) throw new PageTableError(`unknown request ${id}`);
    return r;
  }
}
