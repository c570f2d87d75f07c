/**
 * Round to the nearest integer, ties to even: WGSL's `round`, WebAssembly's `nearest`, PyTorch's and
 * NumPy's `round`. Every quantizer's host side uses it, so the codes the host writes, the codes
 * a kernel computes and an outside re-statement of the format agree at exact halves too — which
 * are not rare: a bf16 weight over an f16 scale lands on k + ½ for a few in ten thousand values.
 * (`Math.round` sends halves up: −5.5 → −5.)
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
