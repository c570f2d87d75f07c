/**
 * The reference-guided de-raining filter's configuration and tensor names (the names are the
 * PyTorch module paths of `scripts/derain/train.py`, so its safetensors load as they are).
 *
 * Architecture (NHWC here, NCHW in PyTorch; every conv 3×3, padding 1):
 * - encoder, shared by the de-rained image and the reference: conv c0 → GELU → conv stride 2 c1 →
 *   GELU → conv stride 2 c2 → GELU (features at a quarter of the resolution, two skips kept);
 * - cross-attention at the quarter resolution: queries from the image's features, keys and values
 *   from the reference's (both layer-normed), `heads` heads, output projection, residual; then a
 *   GELU MLP (2·c2 wide) with its residual;
 * - decoder: nearest resize to the half-resolution skip, concat, conv c1 → GELU; resize to the
 *   full-resolution skip, concat, conv c0 → GELU; conv 3 → the residual added to the input.
 *
 * The reference-free refiner is the same network with keys and values from the image itself
 * (self-attention): the same weights, the same cost, only the reference missing.
 */

export interface DerainConfig {
  /** Channels at full, half and quarter resolution. */
  readonly channels: readonly [number, number, number];
  readonly heads: number;
  /** true: the filter (cross-attention to the reference); false: the reference-free refiner. */
  readonly reference: boolean;
  readonly eps: number;
}

export const DEFAULT_DERAIN_CONFIG: DerainConfig = { channels: [16, 32, 64], heads: 4, reference: true, eps: 1e-5 };

export class DerainConfigError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'DerainConfigError';
  }
}

export function checkDerainConfig(cfg: DerainConfig): DerainConfig {
  const [, , c2] = cfg.channels;
  if (cfg.channels.some((c) => !Number.isInteger(c) || c < 1))
    throw new DerainConfigError(`channels must be positive integers, got ${cfg.channels.join(', ')}`);
  if (!Number.isInteger(cfg.heads) || cfg.heads < 1 || c2 % cfg.heads !== 0)
    throw new DerainConfigError(`heads (${cfg.heads}) must divide the quarter-resolution channels (${c2})`);
  return cfg;
}

/** Every weight in the order the graph takes them, with its shape. */
export function derainWeightShapes(cfg: DerainConfig): [string, number[]][] {
  const [c0, c1, c2] = cfg.channels;
  const conv = (name: string, o: number, c: number): [string, number[]][] => [
    [`${name}.weight`, [o, c, 3, 3]],
    [`${name}.bias`, [o]],
  ];
  const linear = (name: string, o: number, i: number): [string, number[]][] => [
    [`${name}.weight`, [o, i]],
    [`${name}.bias`, [o]],
  ];
  const norm = (name: string, c: number): [string, number[]][] => [
    [`${name}.weight`, [c]],
    [`${name}.bias`, [c]],
  ];
  return [
    ...conv('enc.conv0', c0, 3),
    ...conv('enc.conv1', c1, c0),
    ...conv('enc.conv2', c2, c1),
    ...norm('attn.norm_q', c2),
    ...norm('attn.norm_kv', c2),
    ...linear('attn.q', c2, c2),
    ...linear('attn.k', c2, c2),
    ...linear('attn.v', c2, c2),
    ...linear('attn.o', c2, c2),
    ...norm('mlp.norm', c2),
    ...linear('mlp.fc1', 2 * c2, c2),
    ...linear('mlp.fc2', c2, 2 * c2),
    ...conv('dec.conv1', c1, c2 + c1),
    ...conv('dec.conv0', c0, c1 + c0),
    ...conv('dec.out', 3, c0),
  ];
}

/** The config as safetensors metadata (strings), and back; a missing or bad entry is an error naming it. */
export function derainConfigToMetadata(cfg: DerainConfig): Record<string, string> {
  return {
    format: 'tessera-derain',
    channels: cfg.channels.join(','),
    heads: String(cfg.heads),
    reference: cfg.reference ? '1' : '0',
    eps: String(cfg.eps),
  };
}

export function derainConfigFromMetadata(meta: Readonly<Record<string, string>>, where: string): DerainConfig {
  if (meta.format !== 'tessera-derain')
    throw new DerainConfigError(`${where}: metadata 'format' is '${meta.format}', expected 'tessera-derain'`);
  const channels = (meta.channels ?? '').split(',').map(Number);
  if (channels.length !== 3) throw new DerainConfigError(`${where}: metadata 'channels' must list 3 numbers`);
  return checkDerainConfig({
    channels: channels as [number, number, number],
    heads: Number(meta.heads),
    reference: meta.reference === '1',
    eps: meta.eps === undefined ? 1e-5 : Number(meta.eps),
  });
}
