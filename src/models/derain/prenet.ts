/**
 * The PReNet-style base de-rainer of scripts/derain/models.py as one IR function (NHWC, symbolic
 * `h`, `w`): `iters` stages sharing weights; each sees the rainy image and the previous estimate,
 * carries a ConvLSTM state (gates i, f, g, o = the four channel quarters of one conv), runs
 * `blocks` residual blocks, and predicts the estimate as a residual over the rainy input.
 * Weight names are the PyTorch module paths (`inp`, `gates`, `res.<b>.0`, `res.<b>.2`, `out`).
 */
import { FunctionBuilder } from '../../ir/builder.js';
import type { Expr, Func, Var } from '../../ir/graph.js';
import { op } from '../../ir/op.js';
import { tensorType } from '../../ir/types.js';
import { DERAIN_MAX_SIDE, derainParamName } from './graph.js';

export interface PrenetConfig {
  readonly channels: number;
  readonly iters: number;
  readonly blocks: number;
}

export const DEFAULT_PRENET_CONFIG: PrenetConfig = { channels: 32, iters: 4, blocks: 3 };

export function prenetWeightShapes(cfg: PrenetConfig): [string, number[]][] {
  const ch = cfg.channels;
  const conv = (name: string, o: number, c: number): [string, number[]][] => [
    [`${name}.weight`, [o, c, 3, 3]],
    [`${name}.bias`, [o]],
  ];
  const res = Array.from({ length: cfg.blocks }, (_, b) => [
    ...conv(`res.${b}.0`, ch, ch),
    ...conv(`res.${b}.2`, ch, ch),
  ]);
  return [...conv('inp', ch, 6), ...conv('gates', 4 * ch, 2 * ch), ...res.flat(), ...conv('out', 3, ch)];
}

export function prenetMetadata(cfg: PrenetConfig): Record<string, string> {
  return {
    format: 'tessera-prenet',
    channels: String(cfg.channels),
    iters: String(cfg.iters),
    blocks: String(cfg.blocks),
  };
}

export function prenetConfigFromMetadata(meta: Readonly<Record<string, string>>, where: string): PrenetConfig {
  if (meta.format !== 'tessera-prenet')
    throw new Error(`${where}: metadata 'format' is '${meta.format}', expected 'tessera-prenet'`);
  const cfg = { channels: Number(meta.channels), iters: Number(meta.iters), blocks: Number(meta.blocks) };
  if (!Object.values(cfg).every((v) => Number.isInteger(v) && v >= 1))
    throw new Error(`${where}: metadata channels/iters/blocks must be positive integers`);
  return cfg;
}

export function prenetFunc(cfg: PrenetConfig): Func {
  const ch = cfg.channels;
  const b = new FunctionBuilder('main', { upper: { h: DERAIN_MAX_SIDE, w: DERAIN_MAX_SIDE } });
  const y = b.param('x', tensorType('f32', [1, 'h', 'w', 3]));
  const p = new Map<string, Var>();
  for (const [name, shape] of prenetWeightShapes(cfg))
    p.set(name, b.param(derainParamName(name), tensorType('f32', shape)));
  const conv = (input: Expr, name: string) =>
    op.conv2d(input, p.get(`${name}.weight`)!, { padding: 1, bias: p.get(`${name}.bias`)! });
  const quarter = (g: Expr, k: number) => op.slice(g, 3, k * ch, (k + 1) * ch);
  const out = b.dataflow(() => {
    let x: Var = y;
    let h: Var | undefined;
    let c: Var | undefined;
    for (let t = 0; t < cfg.iters; t++) {
      const z = b.emit(op.relu(conv(op.concat([y, x], -1), 'inp')), `z${t}`);
      // the first stage's state is zero: 0·z (z is finite after the ReLU), shaped like z
      const hPrev = h ?? b.emit(op.scale(z, 0), 'h_init');
      const g = b.emit(conv(op.concat([z, hPrev], -1), 'gates'), `gates${t}`);
      const input = op.multiply(op.sigmoid(quarter(g, 0)), op.tanh(quarter(g, 2)));
      c = b.emit(c ? op.add(op.multiply(op.sigmoid(quarter(g, 1)), c), input) : input, `c${t}`);
      h = b.emit(op.multiply(op.sigmoid(quarter(g, 3)), op.tanh(c)), `h${t}`);
      let r: Var = h;
      for (let k = 0; k < cfg.blocks; k++)
        r = b.emit(op.relu(op.add(conv(op.relu(conv(r, `res.${k}.0`)), `res.${k}.2`), r)), `r${t}_${k}`);
      x = b.emit(op.add(y, conv(r, 'out')), `x${t}`);
    }
    return x;
  });
  return b.finish(out);
}
