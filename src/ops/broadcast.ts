/** Numpy broadcasting of concrete shapes, shared by op specs and kernels. */
import { shapeString } from '../backends/backend.js';

export function broadcastShapes(op: string, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const axis = rank - s.length + i;
      const d = s[i]!;
      if (d === 1) continue;
      if (out[axis] !== 1 && out[axis] !== d) {
        throw new Error(
          `${op}: shapes ${shapes.map(shapeString).join(', ')} do not broadcast (axis ${axis}: ${out[axis]} vs ${d})`,
        );
      }
      out[axis] = d;
    }
  }
  return out;
}

/** Element strides of `shape` read as broadcast to `outShape` (0 along broadcast axes). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const axis = outShape.length - shape.length + i;
    strides[axis] = shape[i] === 1 ? 0 : stride;
    stride *= shape[i]!;
  }
  return strides;
}
