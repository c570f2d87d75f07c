/**
 * Every op Tessera's backends know, each declared once (see `op-spec.ts`). A new op joins here,
 * and by joining it enters the conformance suite that every backend runs.
 */
import type { Attrs } from '../backend/backend.js';
import type { OpSpec } from './op-spec.js';
import { elementwiseOp } from './elementwise.js';
import { matmulOp } from './matmul.js';
import { reduceOp } from './reduce.js';
import { softmaxOp } from './softmax.js';
import { rmsnormOp } from './rmsnorm.js';
import { layernormOp } from './layernorm.js';
import { embeddingOp } from './embedding.js';
import { ropeOp } from './rope.js';
import { ATTENTION_OPS } from '../attention/ops.js';
import { argmaxOp } from './argmax.js';
import { sampleOp } from './sample.js';
import { attentionOp } from './attention.js';

export const OPS: readonly OpSpec<Attrs>[] = [
  elementwiseOp,
  matmulOp,
  reduceOp,
  softmaxOp,
  rmsnormOp,
  layernormOp,
  embeddingOp,
  ropeOp,
  ...ATTENTION_OPS,
  argmaxOp,
  sampleOp,
  attentionOp,
];

const byName = new Map(OPS.map((op) => [op.name, op]));

export function getOp(name: string): OpSpec<Attrs> {
  const op = byName.get(name);
  if (!op) throw new Error(`unknown op '${name}' (known: ${[...byName.keys()].join(', ')})`);
  return op;
}

export function hasOp(name: string): boolean {
  return byName.has(name);
}
