/**
 * The KV page allocator: page ids in [0, numPages) with reference counts.
 *
 * A page is shared (prefix cache, `n` > 1 completions) by retaining it; it returns to the free
 * list when its last holder releases it. Allocation is all-or-nothing so a failed request for
 * pages never leaves a half-allocated sequence behind.
 */
export class PagePool {
  private readonly freeList: number[] = [];
  private readonly refs: Int32Array;

  constructor(readonly numPages: number) {
    this.refs = new Int32Array(numPages);
    // Hand out low ids first (pop from the end).
    for (let p = numPages - 1; p >= 0; p--) this.freeList.push(p);
  }

  get freeCount(): number {
    return this.freeList.length;
  }

  get usedCount(): number {
    return this.numPages - this.freeList.length;
  }

  /** `n` fresh pages with one reference each, or null (nothing taken) when fewer are free. */
  allocate(n: number): number[] | null {
    if (n > this.freeList.length) return null;
    const pages = this.freeList.splice(this.freeList.length - n, n).reverse();
    for (const p of pages) this.refs[p] = 1;
    return pages;
  }

  retain(page: number): void {
    if (this.refs[page]! <= 0) throw new Error(`page pool: retain of free page ${page}`);
    this.refs[page]!++;
  }

  /** Drops one reference; returns true when the page became free. */
  release(page: number): boolean {
    if (this.refs[page]! <= 0) throw new Error(`page pool: double release of page ${page}`);
    if (--this.refs[page]! > 0) return false;
    this.freeList.push(page);
    return true;
  }

  refCount(page: number): number {
    return this.refs[page]!;
  }
}
