/**
 * The int8 CNN graph that the microcontroller target consumes.
 *
 * This is a deliberately small, self-contained typed graph: the compiler core (`src/ir`) is being
 * written at the same time, so `src/mcu` does not import it yet. Every node here is plain data
 * (shapes, int8 weights, int32 biases, TFLite requantization parameters), so a later lowering pass
 * from the IR's graph functions only has to produce these records; nothing downstream changes.
 *
 * Layout is NHWC with N = 1 (a tensor is `h × w × c`, channels contiguous), as in TFLite Micro.
 */

/** Shape of an activation tensor: height, width, channels. */
export interface Shape3 {
  h: number;
  w: number;
  c: number;
}

/** An int8 activation tensor of the graph. */
export interface TensorInfo {
  id: number;
  name: string;
  shape: Shape3;
  /** Quantization zero point (int8); the real value is scale · (q − zeroPoint). */
  zeroPoint: number;
}

/** Per-output-channel requantization from an int32 accumulator to int8. */
export interface Requant {
  /** Q31 multipliers, one per output channel. */
  multiplier: Int32Array;
  /** Right shifts as TFLite stores them (≤ 0), one per output channel. */
  shift: Int32Array;
  outZero: number;
  /** Fused activation as an int8 clamp (ReLU6 → [zero, q(6)], none → [−128, 127]). */
  actMin: number;
  actMax: number;
}

/** Dense convolution (also pointwise when k = 1, and fully connected on a 1×1 map). */
export interface ConvParams {
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: number;
  /** `[cout][k][k][cin]` int8, per-output-channel quantized. */
  weights: Int8Array;
  bias: Int32Array;
  inZero: number;
  requant: Requant;
}

/** Depthwise convolution (channel multiplier 1). */
export interface DepthwiseParams {
  c: number;
  k: number;
  stride: number;
  pad: number;
  /** `[c][k][k]` int8. */
  weights: Int8Array;
  bias: Int32Array;
  inZero: number;
  requant: Requant;
}

/** Residual add of two int8 tensors, each rescaled to the output scale (TFLite ADD, simplified). */
export interface AddParams {
  aZero: number;
  aMultiplier: number;
  aShift: number;
  bZero: number;
  bMultiplier: number;
  bShift: number;
  outZero: number;
  actMin: number;
  actMax: number;
}

/** Global average pool over h × w, requantized (the multiplier folds in 1 / (h·w)). */
export interface AvgPoolParams {
  c: number;
  inZero: number;
  multiplier: number;
  shift: number;
  outZero: number;
}

interface LayerBase {
  name: string;
  /** Tensor ids; the graph is a chain, so `input` is the previous layer's `output`. */
  input: number;
  output: number;
}

export interface ConvLayer extends LayerBase {
  kind: 'conv';
  conv: ConvParams;
}
export interface PointwiseLayer extends LayerBase {
  kind: 'pointwise';
  conv: ConvParams;
}
export interface DepthwiseLayer extends LayerBase {
  kind: 'depthwise';
  dw: DepthwiseParams;
}
/** MobileNetV2 inverted bottleneck: expand 1×1 → depthwise k×k → linear project 1×1 (+ residual). */
export interface BottleneckLayer extends LayerBase {
  kind: 'bottleneck';
  /** Absent when the expansion ratio is 1 (MobileNetV2's first block). */
  expand?: ConvParams;
  dw: DepthwiseParams;
  project: ConvParams;
  /** Present when stride is 1 and input/output channels agree. */
  residual?: AddParams;
  /** Zero points of the two internal tensors (expanded, depthwise output) and of the project output. */
  expandedZero: number;
  depthwiseZero: number;
  projectZero: number;
}
export interface AvgPoolLayer extends LayerBase {
  kind: 'avgpool';
  pool: AvgPoolParams;
}
export interface FullyConnectedLayer extends LayerBase {
  kind: 'fc';
  /** Stored as a 1×1 convolution over the 1×1×cin input. */
  conv: ConvParams;
}

export type Layer = ConvLayer | PointwiseLayer | DepthwiseLayer | BottleneckLayer | AvgPoolLayer | FullyConnectedLayer;

/** A chain of int8 layers from one input tensor to one output tensor. */
export interface McuGraph {
  name: string;
  tensors: TensorInfo[];
  layers: Layer[];
  input: number;
  output: number;
}

/** Number of int8 elements (= bytes) of a tensor shape. */
export function shapeBytes(s: Shape3): number {
  return s.h * s.w * s.c;
}

/** Output size of a convolution window along one axis. */
export function convOutSize(inSize: number, k: number, stride: number, pad: number): number {
  return Math.floor((inSize + 2 * pad - k) / stride) + 1;
}
