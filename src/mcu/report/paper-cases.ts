/**
 * The single layers and whole networks of the paper-shaped tables: shapes taken from MobileNetV2
 * (width 0.35 at 96×96 and 144×144) and from the MCUNet-like network, at several resolutions and
 * channel counts.
 */
import type { McuGraph } from '../graph/types.js';
import { mcuNetLike, mobileNetV2, type SingleLayerSpec } from '../models/zoo.js';

export const POINTWISE_CASES: SingleLayerSpec[] = [
  { kind: 'pointwise', h: 48, w: 48, cin: 16, cout: 8 }, // MbV2-96 block0 project
  { kind: 'pointwise', h: 48, w: 48, cin: 8, cout: 48 }, // MbV2-96 block1 expand
  { kind: 'pointwise', h: 72, w: 72, cin: 16, cout: 16 }, // equal width, MbV2-144 scale
  { kind: 'pointwise', h: 24, w: 24, cin: 48, cout: 16 },
  { kind: 'pointwise', h: 80, w: 80, cin: 16, cout: 8 }, // MCUNet-like 160 stage 0
  { kind: 'pointwise', h: 20, w: 20, cin: 120, cout: 40 },
  { kind: 'pointwise', h: 12, w: 12, cin: 96, cout: 24 },
];

export const DEPTHWISE_CASES: SingleLayerSpec[] = [
  { kind: 'depthwise', h: 48, w: 48, c: 16, k: 3, stride: 1 },
  { kind: 'depthwise', h: 48, w: 48, c: 48, k: 3, stride: 2 },
  { kind: 'depthwise', h: 72, w: 72, c: 16, k: 3, stride: 1 },
  { kind: 'depthwise', h: 24, w: 24, c: 96, k: 3, stride: 1 },
  { kind: 'depthwise', h: 80, w: 80, c: 24, k: 7, stride: 2 },
  { kind: 'depthwise', h: 40, w: 40, c: 64, k: 5, stride: 1 },
  { kind: 'depthwise', h: 20, w: 20, c: 144, k: 5, stride: 2 },
  { kind: 'depthwise', h: 10, w: 10, c: 240, k: 7, stride: 1 },
];

export const BOTTLENECK_CASES: SingleLayerSpec[] = [
  { kind: 'bottleneck', h: 48, w: 48, cin: 8, cout: 8, expand: 6, k: 3, stride: 2 }, // MbV2-96 block1
  { kind: 'bottleneck', h: 24, w: 24, cin: 8, cout: 8, expand: 6, k: 3, stride: 1 }, // MbV2-96 block2
  { kind: 'bottleneck', h: 72, w: 72, cin: 8, cout: 8, expand: 6, k: 3, stride: 2 }, // MbV2-144 block1
  { kind: 'bottleneck', h: 36, w: 36, cin: 8, cout: 8, expand: 6, k: 3, stride: 1 }, // MbV2-144 block2
  { kind: 'bottleneck', h: 18, w: 18, cin: 16, cout: 16, expand: 6, k: 3, stride: 1 }, // MbV2-144 block4
  { kind: 'bottleneck', h: 80, w: 80, cin: 8, cout: 16, expand: 3, k: 7, stride: 2 }, // MCUNet-like block1
  { kind: 'bottleneck', h: 40, w: 40, cin: 16, cout: 16, expand: 4, k: 3, stride: 1 }, // MCUNet-like block2
  { kind: 'bottleneck', h: 20, w: 20, cin: 24, cout: 24, expand: 5, k: 5, stride: 1 }, // MCUNet-like block4
  { kind: 'bottleneck', h: 10, w: 10, cin: 40, cout: 40, expand: 4, k: 5, stride: 1 }, // MCUNet-like block7
  { kind: 'bottleneck', h: 5, w: 5, cin: 96, cout: 96, expand: 5, k: 3, stride: 1 }, // MCUNet-like block12
];

export function wholeNetworks(): { label: string; graph: McuGraph }[] {
  return [
    { label: 'MobileNetV2 w0.35 96×96', graph: mobileNetV2(0.35, 96) },
    { label: 'MobileNetV2 w0.35 144×144', graph: mobileNetV2(0.35, 144) },
    { label: 'MCUNet-like 160×160', graph: mcuNetLike(160) },
  ];
}
