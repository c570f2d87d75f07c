/**
 * The hook through which a grammar (JSON schema, forced tool call) restricts the next token.
 * The engine asks for a mask before sampling and reports the chosen token after; it knows
 * nothing about grammars themselves.
 */
export interface TokenConstraint {
  /** Allowed next tokens as a bitmask (bit `t & 31` of word `t >> 5`), or null when every token is allowed. */
  nextMask(): Promise<Int32Array | null>;
  /** Advances the grammar by the sampled token; false when the grammar rejects it. */
  accept(token: number): boolean;
  /** True once the grammar has accepted a stop token: generation is complete. */
  isTerminated(): boolean;
  dispose(): void;
}

export function maskAllows(mask: Int32Array, token: number): boolean {
  return ((mask[token >>> 5]! >>> (token & 31)) & 1) === 1;
}
