/**
 * The de-raining filter in float64 with plain loops (src/vision/reference-ops.ts): the oracle the
 * compiled network is tested against. Written from the architecture in derain-config.ts, not from
 * the graph in graph.ts.
 */
import {
  type MapF64,
  attentionF64,
  concatChannelsF64,
  conv2dF64,
  geluF64,
  layerNormF64,
  linearF64,
  mapOf,
  resizeNearestF64,
} from '../../vision/reference-ops.js';
import type { DerainConfig } from './derain-config.js';

export type WeightsF64 = ReadonlyMap<string, Float64Array>;

function get(ws: WeightsF64, name: string): Float64Array {
  const t = ws.get(name);
  if (!t) throw new Error(`missing weight '${name}'`);
  return t;
}

const geluMap = (m: MapF64): MapF64 => mapOf(m.n, m.h, m.w, m.c, m.data.map(geluF64));

function conv(ws: WeightsF64, x: MapF64, name: string, o: number, stride: number): MapF64 {
  return conv2dF64(x, get(ws, `${name}.weight`), o, 3, { stride, padding: 1, bias: get(ws, `${name}.bias`) });
}

function encode(ws: WeightsF64, cfg: DerainConfig, img: MapF64): MapF64[] {
  const [c0, c1, c2] = cfg.channels;
  const s0 = geluMap(conv(ws, img, 'enc.conv0', c0, 1));
  const s1 = geluMap(conv(ws, s0, 'enc.conv1', c1, 2));
  return [s0, s1, geluMap(conv(ws, s1, 'enc.conv2', c2, 2))];
}

/** y = x + residual; `ref` is ignored by the reference-free refiner. */
export function derainReferenceF64(ws: WeightsF64, cfg: DerainConfig, x: MapF64, ref?: MapF64): MapF64 {
  const [c0, c1, c2] = cfg.channels;
  const d = c2 / cfg.heads;
  const [s0, s1, fx] = encode(ws, cfg, x);
  const fkv = cfg.reference ? encode(ws, cfg, ref!)[2]! : fx;
  const lin = (v: Float64Array, name: string, o: number) =>
    linearF64(v, get(ws, `${name}.weight`), o, get(ws, `${name}.bias`));
  const ln = (v: Float64Array, name: string) =>
    layerNormF64(v, c2, get(ws, `${name}.weight`), get(ws, `${name}.bias`), cfg.eps);
  const q = lin(ln(fx.data, 'attn.norm_q'), 'attn.q', c2);
  const kvIn = ln(fkv.data, 'attn.norm_kv');
  const att = attentionF64(q, lin(kvIn, 'attn.k', c2), lin(kvIn, 'attn.v', c2), cfg.heads, d);
  const o = lin(att, 'attn.o', c2);
  const a = fx.data.map((v, i) => v + o[i]!);
  const hidden = lin(ln(a, 'mlp.norm'), 'mlp.fc1', 2 * c2).map(geluF64);
  const down = lin(hidden, 'mlp.fc2', c2);
  const m = mapOf(
    1,
    fx.h,
    fx.w,
    c2,
    a.map((v, i) => v + down[i]!),
  );
  const d1 = geluMap(conv(ws, concatChannelsF64(resizeNearestF64(m, s1.h, s1.w), s1), 'dec.conv1', c1, 1));
  const d0 = geluMap(conv(ws, concatChannelsF64(resizeNearestF64(d1, s0.h, s0.w), s0), 'dec.conv0', c0, 1));
  const r = conv(ws, d0, 'dec.out', 3, 1);
  return mapOf(
    1,
    x.h,
    x.w,
    3,
    x.data.map((v, i) => v + r.data[i]!),
  );
}
