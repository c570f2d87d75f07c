/**
 * The router's approximate picture of each instance's prefix cache: the prompts it sent there, as
 * chained hashes of fixed-size blocks of the prompt text (block i's hash covers blocks 0..i, as a
 * page of the engine's radix tree stands for its whole path). A prompt's cached prefix on an
 * instance is then the number of its leading blocks found in that instance's set.
 *
 * Text blocks rather than token pages: the router needs no tokenizer, and equal text gives equal
 * tokens under one model, so a shared text prefix is a shared token prefix up to the block that
 * straddles the difference. What the instance evicted is not seen: each instance's set is bounded
 * (least recently used blocks go first), which keeps the picture close to a cache of that size.
 */

/** Characters per block: about one 16-token KV page of English text. */
export const PREFIX_BLOCK_CHARS = 64;

/** Chained 53-bit hashes of the prompt's full blocks (a partial last block is left out, as the engine caches full pages only). */
export function prefixBlockHashes(text: string, blockChars = PREFIX_BLOCK_CHARS): string[] {
  const out: string[] = [];
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let b = 0; (b + 1) * blockChars <= text.length; b++) {
    for (let i = b * blockChars; i < (b + 1) * blockChars; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
    }
    out.push(`${h1.toString(36)}.${(h2 & 0x1fffff).toString(36)}`);
  }
  return out;
}

/** The text whose prefix matters for a chat request: each message's role and content, in order. */
export function chatPrefixText(messages: readonly unknown[]): string {
  return messages
    .map((m) => {
      const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
      const text = typeof content === 'string' ? content : JSON.stringify(content ?? '');
      return `<${String(role)}>${text}`;
    })
    .join('\n');
}

export class PrefixIndex {
  /** instance id → block hash → last use (insertion order is recency order). */
  private readonly sets = new Map<string, Map<string, number>>();
  private clock = 0;

  constructor(private readonly maxBlocksPerInstance = 4096) {}

  /** Leading blocks of `hashes` the instance is believed to hold. */
  matchedBlocks(instance: string, hashes: readonly string[]): number {
    const set = this.sets.get(instance);
    if (!set) return 0;
    let n = 0;
    while (n < hashes.length && set.has(hashes[n]!)) n++;
    return n;
  }

  /** Records that the instance computed (and now caches) these blocks. */
  record(instance: string, hashes: readonly string[]): void {
    let set = this.sets.get(instance);
    if (!set) this.sets.set(instance, (set = new Map()));
    const stamp = ++this.clock;
    for (const h of hashes) {
      set.delete(h);
      set.set(h, stamp);
    }
    // Map iteration is insertion order: the first keys are the least recently used
    for (const h of set.keys()) {
      if (set.size <= this.maxBlocksPerInstance) break;
      set.delete(h);
    }
  }

  /** Forgets an instance (it left, or died and lost its cache). */
  forget(instance: string): void {
    this.sets.delete(instance);
  }

  blocksHeld(instance: string): number {
    return this.sets.get(instance)?.size ?? 0;
  }
}
