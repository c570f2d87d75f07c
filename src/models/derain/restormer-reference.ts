/** The tiny Restormer-style base in float64 with plain loops (on an even-sized image): the oracle of restormer.ts. */
import { type MapF64, concatChannelsF64, conv2dF64, geluF64, layerNormF64, mapOf } from '../../vision/reference-ops.js';
import type { RestormerConfig } from './restormer.js';
import type { WeightsF64 } from './reference.js';

export function restormerReferenceF64(ws: WeightsF64, cfg: RestormerConfig, x: MapF64): MapF64 {
  const w = (n: string) => {
    const t = ws.get(n);
    if (!t) throw new Error(`missing weight '${n}'`);
    return t;
  };
  const conv = (
    v: MapF64,
    name: string,
    o: number,
    k: number,
    opts: { stride?: number; padding?: number; groups?: number } = {},
  ) => conv2dF64(v, w(`${name}.weight`), o, k, { ...opts, bias: w(`${name}.bias`) });
  const with_ = (v: MapF64, data: Float64Array) => mapOf(v.n, v.h, v.w, v.c, data);
  const channels = (v: MapF64, from: number, to: number) => {
    const out = mapOf(1, v.h, v.w, to - from);
    for (let p = 0; p < v.h * v.w; p++)
      for (let k = from; k < to; k++) out.data[p * (to - from) + k - from] = v.data[p * v.c + k]!;
    return out;
  };

  const mdta = (v: MapF64, prefix: string, heads: number): MapF64 => {
    const ch = v.c;
    const d = ch / heads;
    const hw = v.h * v.w;
    const qkv = conv(conv(v, `${prefix}.qkv`, 3 * ch, 1), `${prefix}.dw`, 3 * ch, 3, { padding: 1, groups: 3 * ch });
    const at = (k: number, c: number, p: number) => qkv.data[p * 3 * ch + k * ch + c]!;
    const temp = w(`${prefix}.temperature`);
    const mixed = mapOf(1, v.h, v.w, ch);
    for (let h = 0; h < heads; h++) {
      const norm = (k: number, i: number) => {
        let s = 0;
        for (let p = 0; p < hw; p++) s += at(k, h * d + i, p) ** 2;
        return Math.sqrt(s);
      };
      const nq = Array.from({ length: d }, (_, i) => norm(0, i));
      const nk = Array.from({ length: d }, (_, i) => norm(1, i));
      for (let i = 0; i < d; i++) {
        const row = new Float64Array(d);
        for (let j = 0; j < d; j++) {
          let dot = 0;
          for (let p = 0; p < hw; p++) dot += at(0, h * d + i, p) * at(1, h * d + j, p);
          row[j] = (dot / (nq[i]! * nk[j]!)) * temp[h]!;
        }
        const max = Math.max(...row);
        const e = row.map((s) => Math.exp(s - max));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let p = 0; p < hw; p++) {
          let acc = 0;
          for (let j = 0; j < d; j++) acc += (e[j]! / sum) * at(2, h * d + j, p);
          mixed.data[p * ch + h * d + i] = acc;
        }
      }
    }
    return conv(mixed, `${prefix}.proj`, ch, 1);
  };

  const gdfn = (v: MapF64, prefix: string): MapF64 => {
    const ch = v.c;
    const u = conv(conv(v, `${prefix}.inp`, 4 * ch, 1), `${prefix}.dw`, 4 * ch, 3, { padding: 1, groups: 4 * ch });
    const a = channels(u, 0, 2 * ch);
    const g = channels(u, 2 * ch, 4 * ch);
    return conv(
      with_(
        a,
        a.data.map((val, i) => geluF64(val) * g.data[i]!),
      ),
      `${prefix}.out`,
      ch,
      1,
    );
  };

  const block = (v: MapF64, prefix: string, heads: number): MapF64 => {
    const ln = (t: MapF64, which: string) =>
      with_(t, layerNormF64(t.data, t.c, w(`${prefix}.${which}.norm.weight`), w(`${prefix}.${which}.norm.bias`), 1e-5));
    const att = mdta(ln(v, 'n1'), `${prefix}.att`, heads);
    const a = with_(
      v,
      v.data.map((val, i) => val + att.data[i]!),
    );
    const f = gdfn(ln(a, 'n2'), `${prefix}.ffn`);
    return with_(
      a,
      a.data.map((val, i) => val + f.data[i]!),
    );
  };

  const c = cfg.channels;
  const e = block(conv(x, 'embed', c, 3, { padding: 1 }), 'enc1', cfg.heads[0]);
  let m = conv(e, 'down', 2 * c, 3, { stride: 2, padding: 1 });
  m = block(block(m, 'mid.0', cfg.heads[1]), 'mid.1', cfg.heads[1]);
  const u = conv(m, 'up.0', 4 * c, 1);
  const up = mapOf(1, 2 * m.h, 2 * m.w, c);
  for (let i = 0; i < m.h; i++)
    for (let j = 0; j < m.w; j++)
      for (let k = 0; k < c; k++)
        for (let a = 0; a < 2; a++)
          for (let bb = 0; bb < 2; bb++)
            up.data[((2 * i + a) * up.w + 2 * j + bb) * c + k] = u.data[(i * m.w + j) * 4 * c + k * 4 + a * 2 + bb]!;
  const d = block(conv(concatChannelsF64(up, e), 'fuse', c, 1), 'dec1', cfg.heads[0]);
  const r = conv(d, 'out', 3, 3, { padding: 1 });
  return with_(
    x,
    x.data.map((v, i) => v + r.data[i]!),
  );
}
