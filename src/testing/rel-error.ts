/** How far logits (or any vector) are from a reference, relative to the reference's size. */

/** ‖a − b‖∞ / ‖b‖∞: the largest difference over the largest reference magnitude. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}
