/** The PReNet-style base in float64 with plain loops: the oracle of the compiled prenet.ts. */
import { type MapF64, concatChannelsF64, conv2dF64, mapOf } from '../../vision/reference-ops.js';
import type { PrenetConfig } from './prenet.js';
import type { WeightsF64 } from './reference.js';

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export function prenetReferenceF64(ws: WeightsF64, cfg: PrenetConfig, y: MapF64): MapF64 {
  const ch = cfg.channels;
  const w = (n: string) => {
    const t = ws.get(n);
    if (!t) throw new Error(`missing weight '${n}'`);
    return t;
  };
  const conv = (x: MapF64, name: string, o: number) =>
    conv2dF64(x, w(`${name}.weight`), o, 3, { padding: 1, bias: w(`${name}.bias`) });
  const px = y.h * y.w;
  let x = y;
  let h = mapOf(1, y.h, y.w, ch);
  let c = new Float64Array(px * ch);
  for (let t = 0; t < cfg.iters; t++) {
    const zc = conv(concatChannelsF64(y, x), 'inp', ch);
    const z = mapOf(
      1,
      y.h,
      y.w,
      ch,
      zc.data.map((v) => Math.max(0, v)),
    );
    const g = conv(concatChannelsF64(z, h), 'gates', 4 * ch);
    const nc = new Float64Array(px * ch);
    const nh = mapOf(1, y.h, y.w, ch);
    for (let p = 0; p < px; p++)
      for (let k = 0; k < ch; k++) {
        const at = (q: number) => g.data[p * 4 * ch + q * ch + k]!;
        nc[p * ch + k] = sigmoid(at(1)) * c[p * ch + k]! + sigmoid(at(0)) * Math.tanh(at(2));
        nh.data[p * ch + k] = sigmoid(at(3)) * Math.tanh(nc[p * ch + k]!);
      }
    c = nc;
    h = nh;
    let r = h;
    for (let b = 0; b < cfg.blocks; b++) {
      const a = conv(r, `res.${b}.0`, ch);
      const inner = mapOf(
        1,
        y.h,
        y.w,
        ch,
        a.data.map((v) => Math.max(0, v)),
      );
      const s = conv(inner, `res.${b}.2`, ch);
      r = mapOf(
        1,
        y.h,
        y.w,
        ch,
        s.data.map((v, i) => Math.max(0, v + r.data[i]!)),
      );
    }
    const o = conv(r, 'out', 3);
    x = mapOf(
      1,
      y.h,
      y.w,
      3,
      y.data.map((v, i) => v + o.data[i]!),
    );
  }
  return x;
}
