/**
 * The fused inverted bottleneck (vMCU's key kernel): expand 1×1 → depthwise k×k → project 1×1
 * (+ residual) without ever materializing the expanded or depthwise tensors.
 *
 * Expanded rows are produced just in time into a ring of k rows inside the pool (row r lives in
 * slot r mod k), the depthwise result of one output pixel stays in a local segment, and the
 * projected pixel is stored into the output tensor, which the planner overlaps with the input:
 * input rows are consumed by the expansion a few rows ahead of where output rows land.
 */
import { ringRows, type KernelOp } from '../plan/kernel-ops.js';
import { dotSegment, requantizeChannel, residualAdd } from './arith.js';
import { wrapAddress, type Placement, type PoolAccess } from './pool-access.js';

export function runBottleneckKernel(
  pool: PoolAccess,
  op: Extract<KernelOp, { kind: 'bottleneck' }>,
  input: Placement,
  output: Placement,
  ring?: Placement,
): void {
  const { block: b, inShape: s, outShape: o } = op;
  const { dw, project, expand, residual } = b;
  if (expand && !ring) throw new Error(`bottleneck '${b.name}' expands but has no ring placement`);
  const P = pool.size;
  const ce = dw.c;
  const rows = ringRows(b, s);
  const segIn = new Int8Array(s.c);
  const segE = new Int8Array(ce);
  const segD = new Int8Array(ce);
  const segOut = new Int8Array(project.cout);
  let nextRow = 0;
  for (let oy = 0; oy < o.h; oy++) {
    if (expand && ring) {
      const lastRow = Math.min(s.h - 1, oy * dw.stride - dw.pad + dw.k - 1);
      for (; nextRow <= lastRow; nextRow++) {
        for (let ix = 0; ix < s.w; ix++) {
          const elem = (nextRow * s.w + ix) * s.c;
          pool.load(wrapAddress(input.base, elem, P), s.c, input.tensor, elem, segIn, 0);
          for (let co = 0; co < ce; co++) {
            segE[co] = requantizeChannel(
              dotSegment(expand.bias[co]!, segIn, expand.inZero, expand.weights, co * s.c, s.c),
              expand.requant,
              co,
            );
          }
          const slot = ((nextRow % rows) * s.w + ix) * ce;
          pool.store(wrapAddress(ring.base, slot, P), ce, ring.tensor, (nextRow * s.w + ix) * ce, segE, 0);
        }
      }
    }
    for (let ox = 0; ox < o.w; ox++) {
      for (let ch = 0; ch < ce; ch++) {
        let acc = dw.bias[ch]!;
        for (let ky = 0; ky < dw.k; ky++) {
          const iy = oy * dw.stride - dw.pad + ky;
          if (iy < 0 || iy >= s.h) continue;
          for (let kx = 0; kx < dw.k; kx++) {
            const ix = ox * dw.stride - dw.pad + kx;
            if (ix < 0 || ix >= s.w) continue;
            const elem = (iy * s.w + ix) * ce + ch;
            const v =
              expand && ring
                ? pool.at(wrapAddress(ring.base, ((iy % rows) * s.w + ix) * ce + ch, P), ring.tensor, elem)
                : pool.at(wrapAddress(input.base, elem, P), input.tensor, elem);
            acc += (v - dw.inZero) * dw.weights[(ch * dw.k + ky) * dw.k + kx]!;
          }
        }
        segD[ch] = requantizeChannel(acc, dw.requant, ch);
      }
      for (let co = 0; co < project.cout; co++) {
        segOut[co] = requantizeChannel(
          dotSegment(project.bias[co]!, segD, project.inZero, project.weights, co * ce, ce),
          project.requant,
          co,
        );
      }
      const oElem = (oy * o.w + ox) * project.cout;
      if (residual) {
        pool.load(wrapAddress(input.base, oElem, P), s.c, input.tensor, oElem, segIn, 0);
        for (let co = 0; co < project.cout; co++) segOut[co] = residualAdd(segOut[co]!, segIn[co]!, residual);
      }
      pool.store(wrapAddress(output.base, oElem, P), project.cout, output.tensor, oElem, segOut, 0);
    }
  }
}
