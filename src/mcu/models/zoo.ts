/**
 * Networks for tests, benchmarks and the CLI: real architectures with seeded random int8 weights
 * (memory depends only on shapes; correctness tests only need weights that keep activations busy).
 */
import { McuGraphBuilder } from '../graph/builder.js';
import type { McuGraph } from '../graph/types.js';

/** torchvision/TF `_make_divisible`: channels rounded to multiples of 8, never below 90%. */
export function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/** MobileNetV2 (Sandler et al.): [expansion, channels, repeats, first stride] per stage. */
const MOBILENET_V2_STAGES: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export function mobileNetV2(width: number, resolution: number, classes = 1000, seed = 1): McuGraph {
  const b = new McuGraphBuilder(
    `mobilenetv2-w${width}-${resolution}`,
    { h: resolution, w: resolution, c: 3 },
    seed,
  ).conv({ cout: makeDivisible(32 * width), k: 3, stride: 2, name: 'stem' });
  let block = 0;
  for (const [t, c, n, s] of MOBILENET_V2_STAGES) {
    for (let i = 0; i < n; i++) {
      b.bottleneck({
        expand: t,
        cout: makeDivisible(c * width),
        k: 3,
        stride: i === 0 ? s : 1,
        name: `block${block++}`,
      });
    }
  }
  // The last 1×1 conv keeps 1280 channels for widths below 1, as in the paper.
  return b
    .pointwise({ cout: width > 1 ? makeDivisible(1280 * width) : 1280, name: 'head' })
    .avgPool('pool')
    .fullyConnected({ cout: classes, name: 'classifier' })
    .build();
}

/**
 * An MCUNet-like network: MobileNetV2-style blocks with the mixed kernel sizes (3/5/7) and
 * expansion ratios (3–6) that MCUNet's TinyNAS picks, at 160×160 input.
 */
const MCUNET_LIKE_BLOCKS: ReadonlyArray<readonly [number, number, number, number]> = [
  // [expansion, kernel, channels, stride]
  [1, 3, 8, 1],
  [3, 7, 16, 2],
  [4, 3, 16, 1],
  [6, 5, 24, 2],
  [5, 5, 24, 1],
  [4, 5, 24, 1],
  [6, 7, 40, 2],
  [4, 5, 40, 1],
  [5, 5, 40, 1],
  [6, 5, 48, 1],
  [4, 3, 48, 1],
  [6, 7, 96, 2],
  [5, 3, 96, 1],
  [4, 7, 96, 1],
  [6, 3, 160, 1],
];

export function mcuNetLike(resolution = 160, classes = 1000, seed = 2): McuGraph {
  const b = new McuGraphBuilder(`mcunet-like-${resolution}`, { h: resolution, w: resolution, c: 3 }, seed).conv({
    cout: 16,
    k: 3,
    stride: 2,
    name: 'stem',
  });
  MCUNET_LIKE_BLOCKS.forEach(([t, k, c, s], i) =>
    b.bottleneck({ expand: t, k, cout: c, stride: s, name: `block${i}` }),
  );
  return b.avgPool('pool').fullyConnected({ cout: classes, name: 'classifier' }).build();
}

/** A one-layer network, for the single-layer tables. */
export type SingleLayerSpec =
  | { kind: 'pointwise'; h: number; w: number; cin: number; cout: number }
  | { kind: 'depthwise'; h: number; w: number; c: number; k: number; stride: number }
  | { kind: 'bottleneck'; h: number; w: number; cin: number; cout: number; expand: number; k: number; stride: number };

export function describeSingleLayer(s: SingleLayerSpec): string {
  switch (s.kind) {
    case 'pointwise':
      return `pointwise ${s.h}×${s.w} ${s.cin}→${s.cout}`;
    case 'depthwise':
      return `depthwise ${s.h}×${s.w}×${s.c} k${s.k} s${s.stride}`;
    case 'bottleneck':
      return `bottleneck ${s.h}×${s.w} ${s.cin}→${s.cout} t${s.expand} k${s.k} s${s.stride}`;
  }
}

export function singleLayer(s: SingleLayerSpec, seed = 3): McuGraph {
  const cin = s.kind === 'depthwise' ? s.c : s.cin;
  const b = new McuGraphBuilder(describeSingleLayer(s), { h: s.h, w: s.w, c: cin }, seed);
  switch (s.kind) {
    case 'pointwise':
      b.pointwise({ cout: s.cout, name: 'layer' });
      break;
    case 'depthwise':
      b.depthwise({ k: s.k, stride: s.stride, name: 'layer' });
      break;
    case 'bottleneck':
      b.bottleneck({ expand: s.expand, cout: s.cout, k: s.k, stride: s.stride, name: 'layer' });
      break;
  }
  return b.build();
}

/** A small network with every layer kind, sized for fast C/QEMU tests. */
export function tinyTestNet(seed = 11): McuGraph {
  return new McuGraphBuilder('tiny-test', { h: 20, w: 18, c: 3 }, seed)
    .conv({ cout: 8, k: 3, stride: 2, name: 'stem' })
    .bottleneck({ expand: 1, cout: 8, k: 3, stride: 1, name: 'b0' })
    .bottleneck({ expand: 4, cout: 12, k: 5, stride: 2, name: 'b1' })
    .bottleneck({ expand: 3, cout: 12, k: 7, stride: 1, name: 'b2' })
    .depthwise({ k: 3, stride: 1, name: 'dw' })
    .pointwise({ cout: 16, name: 'pw' })
    .depthwise({ k: 5, stride: 2, name: 'dw2' })
    .avgPool('pool')
    .fullyConnected({ cout: 10, name: 'fc' })
    .build();
}

/** Named models for the CLI (`tessera mcu plan <model>`). */
export const MODEL_NAMES = ['mobilenetv2-96', 'mobilenetv2-144', 'mcunet-like', 'tiny-test'] as const;

export function modelByName(name: string): McuGraph {
  switch (name) {
    case 'mobilenetv2-96':
      return mobileNetV2(0.35, 96);
    case 'mobilenetv2-144':
      return mobileNetV2(0.35, 144);
    case 'mcunet-like':
      return mcuNetLike();
    case 'tiny-test':
      return tinyTestNet();
    default: {
      const m = /^mobilenetv2-w([0-9.]+)-(\d+)$/.exec(name);
      if (m) return mobileNetV2(Number(m[1]), Number(m[2]));
      throw new Error(
        `unknown MCU model '${name}'; known: ${MODEL_NAMES.join(', ')}, or mobilenetv2-w<width>-<resolution>`,
      );
    }
  }
}
