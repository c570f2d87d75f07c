/**
 * Dense / pointwise / fully-connected convolution over the pool, one output pixel at a time:
 * load the input window's pixels into a local patch, compute all output channels into a local
 * segment, optionally add the residual pixel, store the segment. Because the output pixel is
 * written only after its whole window was loaded, a pointwise layer can write in place.
 */
import type { KernelOp } from '../plan/kernel-ops.js';
import { dotSegment, requantizeChannel, residualAdd } from './arith.js';
import { wrapAddress, type Placement, type PoolAccess } from './pool-access.js';

export function runConvKernel(
  pool: PoolAccess,
  op: Extract<KernelOp, { kind: 'conv' }>,
  input: Placement,
  output: Placement,
  residual?: Placement,
): void {
  const { conv: p, inShape: s, outShape: o } = op;
  const P = pool.size;
  const window = p.k * p.k * p.cin;
  const patch = new Int8Array(window);
  const out = new Int8Array(p.cout);
  const res = new Int8Array(p.cout);
  for (let oy = 0; oy < o.h; oy++) {
    for (let ox = 0; ox < o.w; ox++) {
      for (let ky = 0; ky < p.k; ky++) {
        const iy = oy * p.stride - p.pad + ky;
        for (let kx = 0; kx < p.k; kx++) {
          const ix = ox * p.stride - p.pad + kx;
          const dst = (ky * p.k + kx) * p.cin;
          if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) {
            patch.fill(p.inZero, dst, dst + p.cin); // padding is real 0
            continue;
          }
          const elem = (iy * s.w + ix) * p.cin;
          pool.load(wrapAddress(input.base, elem, P), p.cin, input.tensor, elem, patch, dst);
        }
      }
      for (let co = 0; co < p.cout; co++) {
        out[co] = requantizeChannel(
          dotSegment(p.bias[co]!, patch, p.inZero, p.weights, co * window, window),
          p.requant,
          co,
        );
      }
      const oElem = (oy * o.w + ox) * p.cout;
      if (residual && op.residual) {
        pool.load(wrapAddress(residual.base, oElem, P), p.cout, residual.tensor, oElem, res, 0);
        for (let co = 0; co < p.cout; co++) out[co] = residualAdd(out[co]!, res[co]!, op.residual);
      }
      pool.store(wrapAddress(output.base, oElem, P), p.cout, output.tensor, oElem, out, 0);
    }
  }
}
