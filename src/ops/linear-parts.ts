/** The inputs of a `linear` call (src/ops/linear.ts) by role, shared by the op, its check and its kernels. */
import type { MatmulAttrs } from './matmul.js';
import type { RopeAttrs } from './rope.js';

export interface LinearRope extends RopeAttrs {
  readonly headDim: number;
}

export interface LinearAttrs {
  readonly outDtype?: MatmulAttrs['outDtype'];
  readonly epilogue?: string;
  readonly normEps?: number;
  readonly rope?: LinearRope;
  readonly paired?: boolean;
  readonly [key: string]: unknown;
}

/** The inputs of a `linear` call by role. */
export interface LinearParts<T> {
  readonly a: T;
  readonly w: T;
  readonly w2?: T;
  readonly norm?: T;
  readonly pos?: T;
  readonly extras: readonly T[];
}

export function linearParts<T>(attrs: LinearAttrs, inputs: readonly T[]): LinearParts<T> {
  let i = 2;
  const w2 = attrs.paired ? inputs[i++] : undefined;
  const norm = attrs.normEps !== undefined ? inputs[i++] : undefined;
  const pos = attrs.rope ? inputs[i++] : undefined;
  if (inputs.length < i) throw new Error(`linear: ${inputs.length} inputs, at least ${i} expected`);
  return {
    a: inputs[0]!,
    w: inputs[1]!,
    ...(w2 !== undefined ? { w2 } : {}),
    ...(norm !== undefined ? { norm } : {}),
    ...(pos !== undefined ? { pos } : {}),
    extras: inputs.slice(i),
  };
}

/** The plain matmul inside: transB with the same epilogue. */
export function linearMatmulAttrs(attrs: LinearAttrs): MatmulAttrs {
  return {
    transB: true,
    ...(attrs.outDtype ? { outDtype: attrs.outDtype } : {}),
    ...(attrs.epilogue ? { epilogue: attrs.epilogue } : {}),
  };
}
