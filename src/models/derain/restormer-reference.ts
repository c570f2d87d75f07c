/** The tiny Restormer-style base in float64 with plain loops (on an even-sized image): the oracle of restormer.ts. */
import { type MapF64, concatChannelsF64, conv2dF64, geluF64, layerNormF64, mapOf } from '../../vision/reference-ops.js';
import type { RestormerConfig } from './restormer.js';
import type { WeightsF64 } from './reference.js';

interface ConvOptions {
  stride?: number;
  padding?: number;
  groups?: number;
}

/** The named weights, failing loudly on a missing name, and the biased convolution they define. */
class NamedWeights {
  constructor(private readonly ws: WeightsF64) {}

  get(n: string): Float64Array {
    const t = this.ws.get(n);
    if (!t) throw new Error(`missing weight '${n}'`);
    return t;
  }

  conv(v: MapF64, name: string, o: number, k: number, opts: ConvOptions = {}): MapF64 {
    return conv2dF64(v, this.get(`${name}.weight`), o, k, { ...opts, bias: this.get(`${name}.bias`) });
  }
}

const withData = (v: MapF64, data: Float64Array) => mapOf(v.n, v.h, v.w, v.c, data);

/** Channels [from, to) of every pixel. */
function channelSlice(v: MapF64, from: number, to: number): MapF64 {
  const out = mapOf(1, v.h, v.w, to - from);
  for (let p = 0; p < v.h * v.w; p++)
    for (let k = from; k < to; k++) out.data[p * (to - from) + k - from] = v.data[p * v.c + k]!;
  return out;
}

/**
 * One head of transposed attention into `mixed`: a d×d channel attention whose scores are cosine
 * similarities over all pixels times the head's temperature. `at(k, c, p)` reads q (k = 0), k (1)
 * or v (2) channel c at pixel p.
 */
function attentionHeadF64(
  at: (k: number, c: number, p: number) => number,
  h: number,
  d: number,
  hw: number,
  temperature: number,
  mixed: MapF64,
): void {
  const ch = mixed.c;
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
      row[j] = (dot / (nq[i]! * nk[j]!)) * temperature;
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

/** Multi-Dconv head transposed attention: q, k, v from a 1×1 then depthwise 3×3 conv, heads over channels. */
function mdtaF64(W: NamedWeights, v: MapF64, prefix: string, heads: number): MapF64 {
  const ch = v.c;
  const qkv = W.conv(W.conv(v, `${prefix}.qkv`, 3 * ch, 1), `${prefix}.dw`, 3 * ch, 3, { padding: 1, groups: 3 * ch });
  const at = (k: number, c: number, p: number) => qkv.data[p * 3 * ch + k * ch + c]!;
  const temp = W.get(`${prefix}.temperature`);
  const mixed = mapOf(1, v.h, v.w, ch);
  for (let h = 0; h < heads; h++) attentionHeadF64(at, h, ch / heads, v.h * v.w, temp[h]!, mixed);
  return W.conv(mixed, `${prefix}.proj`, ch, 1);
}

/** Gated-Dconv feed-forward: GELU of one half of the expanded channels times the other half. */
function gdfnF64(W: NamedWeights, v: MapF64, prefix: string): MapF64 {
  const ch = v.c;
  const u = W.conv(W.conv(v, `${prefix}.inp`, 4 * ch, 1), `${prefix}.dw`, 4 * ch, 3, { padding: 1, groups: 4 * ch });
  const a = channelSlice(u, 0, 2 * ch);
  const g = channelSlice(u, 2 * ch, 4 * ch);
  return W.conv(
    withData(
      a,
      a.data.map((val, i) => geluF64(val) * g.data[i]!),
    ),
    `${prefix}.out`,
    ch,
    1,
  );
}

/** A transformer block: pre-norm attention and feed-forward, each with a residual. */
function blockF64(W: NamedWeights, v: MapF64, prefix: string, heads: number): MapF64 {
  const ln = (t: MapF64, which: string) =>
    withData(
      t,
      layerNormF64(t.data, t.c, W.get(`${prefix}.${which}.norm.weight`), W.get(`${prefix}.${which}.norm.bias`), 1e-5),
    );
  const att = mdtaF64(W, ln(v, 'n1'), `${prefix}.att`, heads);
  const a = withData(
    v,
    v.data.map((val, i) => val + att.data[i]!),
  );
  const f = gdfnF64(W, ln(a, 'n2'), `${prefix}.ffn`);
  return withData(
    a,
    a.data.map((val, i) => val + f.data[i]!),
  );
}

/** Pixel shuffle by 2: `u` (h×w, 4c channels ordered c, then 2×2 offset) to a 2h×2w map of c channels. */
function pixelShuffle2F64(u: MapF64, c: number): MapF64 {
  const up = mapOf(1, 2 * u.h, 2 * u.w, c);
  for (let i = 0; i < u.h; i++)
    for (let j = 0; j < u.w; j++)
      for (let k = 0; k < c; k++)
        for (let a = 0; a < 2; a++)
          for (let bb = 0; bb < 2; bb++)
            up.data[((2 * i + a) * up.w + 2 * j + bb) * c + k] = u.data[(i * u.w + j) * 4 * c + k * 4 + a * 2 + bb]!;
  return up;
}

export function restormerReferenceF64(ws: WeightsF64, cfg: RestormerConfig, x: MapF64): MapF64 {
  const W = new NamedWeights(ws);
  const c = cfg.channels;
  const e = blockF64(W, W.conv(x, 'embed', c, 3, { padding: 1 }), 'enc1', cfg.heads[0]);
  let m = W.conv(e, 'down', 2 * c, 3, { stride: 2, padding: 1 });
  m = blockF64(W, blockF64(W, m, 'mid.0', cfg.heads[1]), 'mid.1', cfg.heads[1]);
  const up = pixelShuffle2F64(W.conv(m, 'up.0', 4 * c, 1), c);
  const d = blockF64(W, W.conv(concatChannelsF64(up, e), 'fuse', c, 1), 'dec1', cfg.heads[0]);
  const r = W.conv(d, 'out', 3, 3, { padding: 1 });
  return withData(
    x,
    x.data.map((v, i) => v + r.data[i]!),
  );
}
