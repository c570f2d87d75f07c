/**
 * Kernel-level operations: what a memory planner schedules and what the C generator emits.
 *
 * A graph layer lowers to one or more kernel ops. The tensor-level baseline runs an inverted
 * bottleneck as three ops over whole tensors; the vMCU planner runs it as one fused op whose
 * expanded tensor only ever exists as a ring of k rows inside the segment pool.
 */
import type {
  AddParams,
  AvgPoolParams,
  BottleneckLayer,
  ConvParams,
  DepthwiseParams,
  McuGraph,
  Shape3,
} from '../graph/types.js';
import { shapeBytes } from '../graph/types.js';

export type KernelOp =
  | { kind: 'conv'; conv: ConvParams; inShape: Shape3; outShape: Shape3; residual?: AddParams }
  | { kind: 'depthwise'; dw: DepthwiseParams; inShape: Shape3; outShape: Shape3 }
  | { kind: 'bottleneck'; block: BottleneckLayer; inShape: Shape3; outShape: Shape3 }
  | { kind: 'avgpool'; pool: AvgPoolParams; inShape: Shape3; outShape: Shape3 };

/** A tensor as planners see it: a name and a byte size (int8, so bytes = elements). */
export interface PlanTensor {
  id: number;
  name: string;
  shape: Shape3;
  bytes: number;
}

export interface LoweredOp {
  name: string;
  /** Index of the graph layer this op comes from (for per-layer reports). */
  layerIndex: number;
  op: KernelOp;
  input: number;
  /** Tensor added to the output (unfused bottleneck project), read pixel by pixel. */
  residual?: number;
  output: number;
  /** Virtual tensor whose rows live in the fused bottleneck's ring buffer. */
  ring?: number;
}

export interface LoweredGraph {
  name: string;
  tensors: PlanTensor[];
  ops: LoweredOp[];
  input: number;
  output: number;
}

/** Rows kept by a fused bottleneck's ring: the depthwise window height (or fewer for tiny maps). */
export function ringRows(block: BottleneckLayer, inShape: Shape3): number {
  return Math.min(block.dw.k, inShape.h);
}

/** Bytes of a fused bottleneck's ring buffer (0 when there is no expansion to buffer). */
export function ringBytes(block: BottleneckLayer, inShape: Shape3): number {
  return block.expand ? ringRows(block, inShape) * inShape.w * block.expand.cout : 0;
}

/**
 * Bytes of kernel-local segment buffers (the "registers" a kernel loads segments into). They must
 * match the C kernels exactly: the generated scratch array is sized from this.
 */
export function localBytes(op: KernelOp): number {
  switch (op.kind) {
    case 'conv':
      return op.conv.k * op.conv.k * op.conv.cin + op.conv.cout * (op.residual ? 2 : 1);
    case 'depthwise':
      return op.dw.c;
    case 'avgpool':
      return op.pool.c;
    case 'bottleneck': {
      const b = op.block;
      const ce = b.dw.c;
      const segIn = b.expand || b.residual ? op.inShape.c : 0;
      return segIn + (b.expand ? ce : 0) + ce + b.project.cout;
    }
  }
}

export interface LowerOptions {
  /** Run each inverted bottleneck as one fused kernel (vMCU) or as three ops (tensor-level). */
  fuseBottleneck: boolean;
}

/** Lowers a graph's layers to kernel ops, adding intermediate tensors for unfused bottlenecks. */
export function lowerGraph(graph: McuGraph, options: LowerOptions): LoweredGraph {
  const tensors: PlanTensor[] = graph.tensors.map((t) => ({
    id: t.id,
    name: t.name,
    shape: t.shape,
    bytes: shapeBytes(t.shape),
  }));
  const addTensor = (name: string, shape: Shape3): number => {
    tensors.push({ id: tensors.length, name, shape, bytes: shapeBytes(shape) });
    return tensors.length - 1;
  };
  const ops: LoweredOp[] = [];
  graph.layers.forEach((layer, layerIndex) => {
    const inShape = graph.tensors[layer.input]!.shape;
    const outShape = graph.tensors[layer.output]!.shape;
    const base = { layerIndex, input: layer.input, output: layer.output };
    switch (layer.kind) {
      case 'conv':
      case 'pointwise':
      case 'fc':
        ops.push({ ...base, name: layer.name, op: { kind: 'conv', conv: layer.conv, inShape, outShape } });
        return;
      case 'depthwise':
        ops.push({ ...base, name: layer.name, op: { kind: 'depthwise', dw: layer.dw, inShape, outShape } });
        return;
      case 'avgpool':
        ops.push({ ...base, name: layer.name, op: { kind: 'avgpool', pool: layer.pool, inShape, outShape } });
        return;
      case 'bottleneck': {
        const expShape = { h: inShape.h, w: inShape.w, c: layer.dw.c };
        if (options.fuseBottleneck) {
          const ring = layer.expand ? addTensor(`${layer.name}.expanded`, expShape) : undefined;
          ops.push({
            ...base,
            name: layer.name,
            op: { kind: 'bottleneck', block: layer, inShape, outShape },
            ...(ring !== undefined ? { ring } : {}),
          });
          return;
        }
        let cur = layer.input;
        if (layer.expand) {
          const e = addTensor(`${layer.name}.expanded`, expShape);
          ops.push({
            layerIndex,
            name: `${layer.name}.expand`,
            input: cur,
            output: e,
            op: { kind: 'conv', conv: layer.expand, inShape, outShape: expShape },
          });
          cur = e;
        }
        const dwShape = { h: outShape.h, w: outShape.w, c: layer.dw.c };
        const d = addTensor(`${layer.name}.depthwise`, dwShape);
        ops.push({
          layerIndex,
          name: `${layer.name}.depthwise`,
          input: cur,
          output: d,
          op: { kind: 'depthwise', dw: layer.dw, inShape: expShape, outShape: dwShape },
        });
        ops.push({
          layerIndex,
          name: `${layer.name}.project`,
          input: d,
          output: layer.output,
          op: {
            kind: 'conv',
            conv: layer.project,
            inShape: dwShape,
            outShape,
            ...(layer.residual ? { residual: layer.residual } : {}),
          },
          ...(layer.residual ? { residual: layer.input } : {}),
        });
      }
    }
  });
  return { name: graph.name, tensors, ops, input: graph.input, output: graph.output };
}
