/**
 * Depthwise convolution over the pool: per output pixel, each channel's k×k window is read byte
 * by byte straight from the pool (a window of whole pixels would need k²·c bytes of local buffer),
 * and the output pixel is stored as one segment after all its reads.
 */
import type { KernelOp } from '../plan/kernel-ops.js';
import { requantizeChannel } from './arith.js';
import { wrapAddress, type Placement, type PoolAccess } from './pool-access.js';

export function runDepthwiseKernel(
  pool: PoolAccess,
  op: Extract<KernelOp, { kind: 'depthwise' }>,
  input: Placement,
  output: Placement,
): void {
  const { dw: p, inShape: s, outShape: o } = op;
  const P = pool.size;
  const out = new Int8Array(p.c);
  for (let oy = 0; oy < o.h; oy++) {
    for (let ox = 0; ox < o.w; ox++) {
      for (let ch = 0; ch < p.c; ch++) {
        let acc = p.bias[ch]!;
        for (let ky = 0; ky < p.k; ky++) {
          const iy = oy * p.stride - p.pad + ky;
          if (iy < 0 || iy >= s.h) continue;
          for (let kx = 0; kx < p.k; kx++) {
            const ix = ox * p.stride - p.pad + kx;
            if (ix < 0 || ix >= s.w) continue;
            const elem = (iy * s.w + ix) * p.c + ch;
            acc +=
              (pool.at(wrapAddress(input.base, elem, P), input.tensor, elem) - p.inZero) *
              p.weights[(ch * p.k + ky) * p.k + kx]!;
          }
        }
        out[ch] = requantizeChannel(acc, p.requant, ch);
      }
      const oElem = (oy * o.w + ox) * p.c;
      pool.store(wrapAddress(output.base, oElem, P), p.c, output.tensor, oElem, out, 0);
    }
  }
}
