/**
 * Where each new token of a step goes in the KV pool: its slot `page · pageSize + offset`, from the
 * step's BSR rows (which already count the new tokens, as `append_kv` reads them). A kernel that
 * writes K/V straight into the pool (`qkv_append`) reads one i32 per token instead of searching
 * the page table; −1 marks a row with no token (capacity beyond the step).
 */
import { kvLength } from './kv-layout.js';

export interface AppendRows {
  readonly qoLens: readonly number[];
  readonly indptr: ArrayLike<number>;
  readonly indices: ArrayLike<number>;
  readonly lastPageLen: ArrayLike<number>;
}

/** Slots of the step's new tokens, in token order, padded with −1 to `capacity`. */
export function appendSlots(rows: AppendRows, pageSize: number, capacity: number): Int32Array {
  const slots = new Int32Array(capacity).fill(-1);
  let t = 0;
  rows.qoLens.forEach((n, b) => {
    const len = kvLength(rows.indptr, rows.lastPageLen, pageSize, b);
    for (let i = 0; i < n; i++, t++) {
      const pos = len - n + i;
      if (pos < 0) continue;
      slots[t] = rows.indices[rows.indptr[b]! + Math.floor(pos / pageSize)]! * pageSize + (pos % pageSize);
    }
  });
  return slots;
}
