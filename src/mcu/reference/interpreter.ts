/**
 * The TypeScript reference interpreter: runs an McuGraph layer by layer on whole tensors.
 * It knows nothing about memory plans; it is the oracle for the planned kernels and the C code.
 */
import type { Layer, McuGraph } from '../graph/types.js';
import { addReference, avgPoolReference, convReference, depthwiseReference, type RefTensor } from './reference-ops.js';

/** Runs one layer on its whole input tensor. */
export function runLayerReference(layer: Layer, x: RefTensor): RefTensor {
  switch (layer.kind) {
    case 'conv':
    case 'pointwise':
    case 'fc':
      return convReference(x, layer.conv);
    case 'depthwise':
      return depthwiseReference(x, layer.dw);
    case 'avgpool':
      return avgPoolReference(x, layer.pool);
    case 'bottleneck': {
      const e = layer.expand ? convReference(x, layer.expand) : x;
      const d = depthwiseReference(e, layer.dw);
      const p = convReference(d, layer.project);
      return layer.residual ? addReference(p, x, layer.residual) : p;
    }
  }
}

/** Every tensor of the graph (by id) computed from `input`. */
export function runReference(graph: McuGraph, input: Int8Array): Int8Array[] {
  const inShape = graph.tensors[graph.input]!.shape;
  if (input.length !== inShape.h * inShape.w * inShape.c) {
    throw new Error(
      `input has ${input.length} bytes, graph '${graph.name}' expects ${inShape.h * inShape.w * inShape.c}`,
    );
  }
  const values: Int8Array[] = [];
  values[graph.input] = input;
  for (const layer of graph.layers) {
    const x = { data: values[layer.input]!, shape: graph.tensors[layer.input]!.shape };
    values[layer.output] = runLayerReference(layer, x).data;
  }
  return values;
}
