/**
 * Prefix caching: a radix tree over full KV pages keyed by their token ids.
 *
 * Each edge is one full page, so a path from the root spells a token prefix whose KV lives in
 * the pages along it. The cache holds one reference to each page in the tree; sequences that
 * match a prefix retain the pages they reuse. A sequence that computed a page the tree already
 * has switches to the tree's copy (its own is freed), so a sequence holding a node always holds
 * all its ancestors: a node whose only holder is the cache has no held descendants, and eviction
 * can take least recently used leaves.
 */
import type { PagePool } from './page-pool.js';

export interface PrefixNode {
  readonly key: string;
  readonly page: number;
  readonly parent: PrefixNode | null;
  readonly children: Map<string, PrefixNode>;
  lastUsed: number;
}

export interface PrefixMatch {
  /** Reused pages, already retained for the caller. */
  pages: number[];
  /** Tokens covered (pages.length × pageSize). */
  tokens: number;
  /** Deepest matched node (root when nothing matched): where the sequence's later pages hang. */
  node: PrefixNode;
}

export class PrefixCache {
  readonly root: PrefixNode = { key: '', page: -1, parent: null, children: new Map(), lastUsed: 0 };
  private clock = 0;
  private nodeCount = 0;
  private queriedTokens = 0;
  private hitTokens = 0;

  constructor(
    private readonly pool: PagePool,
    private readonly pageSize: number,
  ) {}

  /** Pages held by the tree. */
  get size(): number {
    return this.nodeCount;
  }

  /** Fraction of looked-up prompt tokens whose KV came from the cache. */
  get hitRate(): number {
    return this.queriedTokens === 0 ? 0 : this.hitTokens / this.queriedTokens;
  }

  /** Longest cached prefix of `tokens` covering at most `maxTokens` tokens; its pages are retained for the caller. */
  match(tokens: readonly number[], maxTokens: number): PrefixMatch {
    const stamp = ++this.clock;
    const pages: number[] = [];
    let node = this.root;
    const maxPages = Math.floor(Math.min(maxTokens, tokens.length) / this.pageSize);
    while (pages.length < maxPages) {
      const child = node.children.get(this.keyOf(tokens, pages.length));
      if (!child) break;
      child.lastUsed = stamp;
      this.pool.retain(child.page);
      pages.push(child.page);
      node = child;
    }
    return { pages, tokens: pages.length * this.pageSize, node };
  }

  /** Counts one admitted lookup in the hit rate (failed admissions retried later are not counted). */
  recordLookup(tokens: number, hits: number): void {
    this.queriedTokens += tokens;
    this.hitTokens += hits;
  }

  /**
   * Adds the full pages [fromPage, toPage) of a sequence below `parent` (the node of page
   * fromPage − 1). Where the tree already has a page for the same tokens, `pages[i]` is switched
   * to it. Returns the node of page toPage − 1.
   */
  insert(parent: PrefixNode, tokens: readonly number[], pages: number[], fromPage: number, toPage: number): PrefixNode {
    const stamp = ++this.clock;
    let node = parent;
    for (let i = fromPage; i < toPage; i++) {
      const key = this.keyOf(tokens, i);
      let child = node.children.get(key);
      if (child) {
        if (child.page !== pages[i]) {
          this.pool.retain(child.page);
          this.pool.release(pages[i]!);
          pages[i] = child.page;
        }
      } else {
        child = { key, page: pages[i]!, parent: node, children: new Map(), lastUsed: stamp };
        node.children.set(key, child);
        this.pool.retain(child.page);
        this.nodeCount++;
      }
      child.lastUsed = stamp;
      node = child;
    }
    for (let up: PrefixNode | null = parent; up && up !== this.root; up = up.parent) up.lastUsed = stamp;
    return node;
  }

  /** Pages that eviction could free now (held by nobody but the cache). */
  evictableCount(): number {
    let count = 0;
    const stack = [...this.root.children.values()];
    while (stack.length) {
      const node = stack.pop()!;
      if (this.pool.refCount(node.page) === 1) count++;
      for (const c of node.children.values()) stack.push(c);
    }
    return count;
  }

  /** Frees up to `want` pages, least recently used leaves first; returns how many were freed. */
  evict(want: number): number {
    if (want <= 0) return 0;
    const leaves: PrefixNode[] = [];
    const stack = [...this.root.children.values()];
    while (stack.length) {
      const node = stack.pop()!;
      if (node.children.size === 0 && this.pool.refCount(node.page) === 1) leaves.push(node);
      for (const c of node.children.values()) stack.push(c);
    }
    // Most recent first, so pop() yields the least recently used.
    leaves.sort((a, b) => b.lastUsed - a.lastUsed);
    let freed = 0;
    while (freed < want && leaves.length) {
      const node = leaves.pop()!;
      const parent = node.parent!;
      parent.children.delete(node.key);
      this.nodeCount--;
      if (this.pool.release(node.page)) freed++;
      if (parent !== this.root && parent.children.size === 0 && this.pool.refCount(parent.page) === 1) {
        let at = leaves.length;
        while (at > 0 && leaves[at - 1]!.lastUsed < parent.lastUsed) at--;
        leaves.splice(at, 0, parent);
      }
    }
    return freed;
  }

  /** Drops everything the cache holds (pages still used by sequences stay allocated). */
  clear(): void {
    const stack = [...this.root.children.values()];
    while (stack.length) {
      const node = stack.pop()!;
      this.pool.release(node.page);
      for (const c of node.children.values()) stack.push(c);
    }
    this.root.children.clear();
    this.nodeCount = 0;
  }

  private keyOf(tokens: readonly number[], pageIndex: number): string {
    return tokens.slice(pageIndex * this.pageSize, (pageIndex + 1) * this.pageSize).join(',');
  }
}
