/**
 * Whole-tensor int8 reference operators: the oracle every planned/generated kernel must match bit
 * for bit. Written as the plainest loops over NHWC arrays, sharing nothing with the segment kernels
 * except the requantization arithmetic (which is the specification itself).
 */
import { clampInt8, multiplyByQuantizedMultiplier } from '../quant/requantize.js';
import {
  convOutSize,
  type AddParams,
  type AvgPoolParams,
  type ConvParams,
  type DepthwiseParams,
  type Requant,
  type Shape3,
} from '../graph/types.js';

export interface RefTensor {
  data: Int8Array;
  shape: Shape3;
}

function requantize(acc: number, rq: Requant, ch: number): number {
  return clampInt8(
    multiplyByQuantizedMultiplier(acc, rq.multiplier[ch]!, rq.shift[ch]!) + rq.outZero,
    rq.actMin,
    rq.actMax,
  );
}

/** Dense convolution with zero padding (padding contributes q = inZero, i.e. real 0). */
export function convReference(x: RefTensor, p: ConvParams): RefTensor {
  const { h, w, c } = x.shape;
  if (c !== p.cin) throw new Error(`conv expects ${p.cin} input channels, got ${c}`);
  const ho = convOutSize(h, p.k, p.stride, p.pad);
  const wo = convOutSize(w, p.k, p.stride, p.pad);
  const out = new Int8Array(ho * wo * p.cout);
  for (let oy = 0; oy < ho; oy++) {
    for (let ox = 0; ox < wo; ox++) {
      for (let co = 0; co < p.cout; co++) {
        let acc = p.bias[co]!;
        for (let ky = 0; ky < p.k; ky++) {
          const iy = oy * p.stride - p.pad + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < p.k; kx++) {
            const ix = ox * p.stride - p.pad + kx;
            if (ix < 0 || ix >= w) continue;
            for (let ci = 0; ci < c; ci++) {
              acc += (x.data[(iy * w + ix) * c + ci]! - p.inZero) * p.weights[((co * p.k + ky) * p.k + kx) * c + ci]!;
            }
          }
        }
        out[(oy * wo + ox) * p.cout + co] = requantize(acc, p.requant, co);
      }
    }
  }
  return { data: out, shape: { h: ho, w: wo, c: p.cout } };
}

/** Depthwise convolution, channel multiplier 1. */
export function depthwiseReference(x: RefTensor, p: DepthwiseParams): RefTensor {
  const { h, w, c } = x.shape;
  if (c !== p.c) throw new Error(`depthwise expects ${p.c} channels, got ${c}`);
  const ho = convOutSize(h, p.k, p.stride, p.pad);
  const wo = convOutSize(w, p.k, p.stride, p.pad);
  const out = new Int8Array(ho * wo * c);
  for (let oy = 0; oy < ho; oy++) {
    for (let ox = 0; ox < wo; ox++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = p.bias[ch]!;
        for (let ky = 0; ky < p.k; ky++) {
          const iy = oy * p.stride - p.pad + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < p.k; kx++) {
            const ix = ox * p.stride - p.pad + kx;
            if (ix < 0 || ix >= w) continue;
            acc += (x.data[(iy * w + ix) * c + ch]! - p.inZero) * p.weights[(ch * p.k + ky) * p.k + kx]!;
          }
        }
        out[(oy * wo + ox) * c + ch] = requantize(acc, p.requant, ch);
      }
    }
  }
  return { data: out, shape: { h: ho, w: wo, c } };
}

/** Elementwise residual add of two same-shape tensors. */
export function addReference(a: RefTensor, b: RefTensor, p: AddParams): RefTensor {
  if (a.data.length !== b.data.length) throw new Error('residual add needs equal shapes');
  const out = new Int8Array(a.data.length);
  for (let i = 0; i < out.length; i++) {
    const sum =
      p.outZero +
      multiplyByQuantizedMultiplier(a.data[i]! - p.aZero, p.aMultiplier, p.aShift) +
      multiplyByQuantizedMultiplier(b.data[i]! - p.bZero, p.bMultiplier, p.bShift);
    out[i] = clampInt8(sum, p.actMin, p.actMax);
  }
  return { data: out, shape: a.shape };
}

/** Global average pool to 1×1×c. */
export function avgPoolReference(x: RefTensor, p: AvgPoolParams): RefTensor {
  const { h, w, c } = x.shape;
  const out = new Int8Array(c);
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = 0; i < h * w; i++) sum += x.data[i * c + ch]! - p.inZero;
    out[ch] = clampInt8(multiplyByQuantizedMultiplier(sum, p.multiplier, p.shift) + p.outZero, -128, 127);
  }
  return { data: out, shape: { h: 1, w: 1, c } };
}
