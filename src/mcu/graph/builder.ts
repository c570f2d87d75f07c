/**
 * A typed builder for chains of int8 CNN layers with seeded random weights.
 *
 * @example
 * const g = new McuGraphBuilder('tiny', { h: 32, w: 32, c: 3 }, 7)
 *   .conv({ cout: 8, k: 3, stride: 2 })
 *   .bottleneck({ expand: 6, cout: 8, k: 3, stride: 1 })
 *   .avgPool()
 *   .fullyConnected({ cout: 10 })
 *   .build();
 */
import { quantizeMultiplier } from '../quant/requantize.js';
import { SeededRandom } from './seeded-random.js';
import { makeAdd, makeBias, makeRequant, TARGET_STD, type Activation } from './quant-params.js';
import {
  convOutSize,
  type ConvParams,
  type DepthwiseParams,
  type Layer,
  type McuGraph,
  type Shape3,
  type TensorInfo,
} from './types.js';

/** RMS of (q − zero) after an activation: ReLU6 keeps about half of a centred spread. */
function rmsAfter(act: Activation): number {
  return act === 'relu6' ? TARGET_STD / Math.SQRT2 : TARGET_STD;
}

export interface ConvOptions {
  cout: number;
  k: number;
  stride: number;
  act?: Activation;
  name?: string;
}
export interface DepthwiseOptions {
  k: number;
  stride: number;
  act?: Activation;
  name?: string;
}
export interface BottleneckOptions {
  expand: number;
  cout: number;
  k: number;
  stride: number;
  name?: string;
}

export class McuGraphBuilder {
  private readonly rng: SeededRandom;
  private readonly tensors: TensorInfo[] = [];
  private readonly layers: Layer[] = [];
  private current: TensorInfo;
  private currentRms: number;

  constructor(
    private readonly name: string,
    input: Shape3,
    seed: number,
  ) {
    this.rng = new SeededRandom(seed);
    // Network input: uniform int8 codes around a small zero point.
    this.current = this.addTensor('input', input, this.rng.int(-5, 5));
    this.currentRms = 74;
  }

  /** Dense k×k convolution (the first layer of MobileNets), ReLU6 by default. */
  conv(o: ConvOptions): this {
    const conv = this.makeConv(this.current.shape.c, o.cout, o.k, o.stride, o.act ?? 'relu6');
    return this.push({ kind: 'conv', conv }, o.name, this.convShape(conv), rmsAfter(o.act ?? 'relu6'));
  }

  /** 1×1 convolution, ReLU6 by default. */
  pointwise(o: { cout: number; act?: Activation; name?: string }): this {
    const conv = this.makeConv(this.current.shape.c, o.cout, 1, 1, o.act ?? 'relu6');
    return this.push({ kind: 'pointwise', conv }, o.name, this.convShape(conv), rmsAfter(o.act ?? 'relu6'));
  }

  /** Depthwise k×k convolution, ReLU6 by default. */
  depthwise(o: DepthwiseOptions): this {
    const dw = this.makeDepthwise(
      this.current.shape.c,
      o.k,
      o.stride,
      this.current.zeroPoint,
      this.currentRms,
      o.act ?? 'relu6',
    );
    const s = this.current.shape;
    const shape = {
      h: convOutSize(s.h, dw.k, dw.stride, dw.pad),
      w: convOutSize(s.w, dw.k, dw.stride, dw.pad),
      c: s.c,
    };
    return this.push({ kind: 'depthwise', dw }, o.name, shape, rmsAfter(o.act ?? 'relu6'));
  }

  /** MobileNetV2 inverted bottleneck; residual when stride 1 and channels are kept. */
  bottleneck(o: BottleneckOptions): this {
    const s = this.current.shape;
    const ce = s.c * o.expand;
    const expand = o.expand === 1 ? undefined : this.makeConv(s.c, ce, 1, 1, 'relu6');
    const expandedZero = expand ? expand.requant.outZero : this.current.zeroPoint;
    const expandedRms = expand ? rmsAfter('relu6') : this.currentRms;
    const dw = this.makeDepthwise(ce, o.k, o.stride, expandedZero, expandedRms, 'relu6');
    const project = this.makeConvFrom(ce, o.cout, 1, 1, dw.requant.outZero, rmsAfter('relu6'), 'none');
    const outShape = {
      h: convOutSize(s.h, o.k, o.stride, dw.pad),
      w: convOutSize(s.w, o.k, o.stride, dw.pad),
      c: o.cout,
    };
    const residual =
      o.stride === 1 && s.c === o.cout ? makeAdd(this.rng, project.requant.outZero, this.current.zeroPoint) : undefined;
    const layer = {
      kind: 'bottleneck' as const,
      ...(expand ? { expand } : {}),
      dw,
      project,
      ...(residual ? { residual } : {}),
      expandedZero,
      depthwiseZero: dw.requant.outZero,
      projectZero: project.requant.outZero,
    };
    return this.push(layer, o.name, outShape, TARGET_STD, residual?.outZero);
  }

  /** Global average pool to 1×1×c. */
  avgPool(name?: string): this {
    const s = this.current.shape;
    // Averaging shrinks the spread; scale by 4 so the pooled codes still use the int8 range.
    const real = Math.min(0.999, 4 / (s.h * s.w));
    const { multiplier, shift } = quantizeMultiplier(real);
    const pool = { c: s.c, inZero: this.current.zeroPoint, multiplier, shift, outZero: -100 };
    return this.push({ kind: 'avgpool', pool }, name, { h: 1, w: 1, c: s.c }, TARGET_STD);
  }

  /** Fully connected layer on a 1×1 map (after the pool); linear output. */
  fullyConnected(o: { cout: number; name?: string }): this {
    const s = this.current.shape;
    if (s.h !== 1 || s.w !== 1)
      throw new Error(`fullyConnected needs a 1×1 input, got ${s.h}×${s.w}; add avgPool() first`);
    const conv = this.makeConv(s.c, o.cout, 1, 1, 'none');
    return this.push({ kind: 'fc', conv }, o.name, { h: 1, w: 1, c: o.cout }, TARGET_STD);
  }

  build(): McuGraph {
    if (this.layers.length === 0) throw new Error(`graph '${this.name}' has no layers`);
    return { name: this.name, tensors: this.tensors, layers: this.layers, input: 0, output: this.current.id };
  }

  private convShape(conv: ConvParams): Shape3 {
    const s = this.current.shape;
    return {
      h: convOutSize(s.h, conv.k, conv.stride, conv.pad),
      w: convOutSize(s.w, conv.k, conv.stride, conv.pad),
      c: conv.cout,
    };
  }

  private makeConv(cin: number, cout: number, k: number, stride: number, act: Activation): ConvParams {
    return this.makeConvFrom(cin, cout, k, stride, this.current.zeroPoint, this.currentRms, act);
  }

  private makeConvFrom(
    cin: number,
    cout: number,
    k: number,
    stride: number,
    inZero: number,
    inRms: number,
    act: Activation,
  ): ConvParams {
    const fanIn = k * k * cin;
    return {
      cin,
      cout,
      k,
      stride,
      pad: (k - 1) >> 1,
      inZero,
      weights: this.rng.int8Array(cout * fanIn, -127, 127),
      bias: makeBias(this.rng, cout, fanIn, inRms),
      requant: makeRequant(this.rng, cout, fanIn, inRms, act),
    };
  }

  private makeDepthwise(
    c: number,
    k: number,
    stride: number,
    inZero: number,
    inRms: number,
    act: Activation,
  ): DepthwiseParams {
    if (![3, 5, 7].includes(k)) throw new Error(`depthwise kernel must be 3, 5 or 7, got ${k}`);
    if (stride !== 1 && stride !== 2) throw new Error(`depthwise stride must be 1 or 2, got ${stride}`);
    return {
      c,
      k,
      stride,
      pad: (k - 1) >> 1,
      inZero,
      weights: this.rng.int8Array(c * k * k, -127, 127),
      bias: makeBias(this.rng, c, k * k, inRms),
      requant: makeRequant(this.rng, c, k * k, inRms, act),
    };
  }

  private addTensor(name: string, shape: Shape3, zeroPoint: number): TensorInfo {
    for (const [axis, v] of Object.entries(shape)) {
      if (!Number.isInteger(v) || v < 1)
        throw new Error(`tensor '${name}': ${axis} must be a positive integer, got ${v}`);
    }
    const t = { id: this.tensors.length, name, shape, zeroPoint };
    this.tensors.push(t);
    return t;
  }

  private push(
    body: LayerBody,
    name: string | undefined,
    outShape: Shape3,
    outRms: number,
    outZeroOverride?: number,
  ): this {
    const layerName = name ?? `${body.kind}${this.layers.length}`;
    const zero = outZeroOverride ?? outZeroOf({ ...body, name: '', input: 0, output: 0 } as Layer);
    const out = this.addTensor(layerName, outShape, zero);
    this.layers.push({ ...body, name: layerName, input: this.current.id, output: out.id } as Layer);
    this.current = out;
    this.currentRms = outRms;
    return this;
  }
}

/** A layer without its name and tensor ids (Omit distributed over the union). */
type LayerBody = Layer extends infer L ? (L extends Layer ? Omit<L, 'name' | 'input' | 'output'> : never) : never;

function outZeroOf(layer: Layer): number {
  switch (layer.kind) {
    case 'conv':
    case 'pointwise':
    case 'fc':
      return layer.conv.requant.outZero;
    case 'depthwise':
      return layer.dw.requant.outZero;
    case 'bottleneck':
      return layer.residual ? layer.residual.outZero : layer.project.requant.outZero;
    case 'avgpool':
      return layer.pool.outZero;
  }
}
