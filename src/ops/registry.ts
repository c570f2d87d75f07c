/**
 * Every op Tessera's backends know, each declared once (see `op-spec.ts`). The core ops are
 * listed here; a feature module (attention, …) registers its ops with `registerOps`, called from
 * `src/register-all.ts`, so this registry never imports the code above it. By joining, an op
 * enters the conformance suite that every backend runs.
 */
import type { Attrs } from '../backends/backend.js';
import type { OpSpec } from './op-spec.js';
import { elementwiseOp } from './elementwise.js';
import { matmulOp } from './matmul.js';
import { linearOp } from './linear.js';
import { linearGroupOp } from './linear-group.js';
import { reduceOp } from './reduce.js';
import { softmaxOp } from './softmax.js';
import { rmsnormOp } from './rmsnorm.js';
import { layernormOp } from './layernorm.js';
import { embeddingOp } from './embedding.js';
import { ropeOp } from './rope.js';
import { argmaxOp } from './argmax.js';
import { sampleOp } from './sample.js';
import { attentionOp } from './attention.js';

const registered: OpSpec<Attrs>[] = [
  elementwiseOp,
  matmulOp,
  linearOp,
  linearGroupOp,
  reduceOp,
  softmaxOp,
  rmsnormOp,
  layernormOp,
  embeddingOp,
  ropeOp,
  argmaxOp,
  sampleOp,
  attentionOp,
];

const byName = new Map(registered.map((op) => [op.name, op]));

/** Every registered op in registration order. Live: it grows as feature modules register. */
export const OPS: readonly OpSpec<Attrs>[] = registered;

/** Adds ops; registering the same spec again is a no-op, another spec under a known name is an error. */
export function registerOps(specs: readonly OpSpec<Attrs>[]): void {
  for (const spec of specs) {
    const known = byName.get(spec.name);
    if (known === spec) continue;
    if (known) throw new Error(`op '${spec.name}' is registered twice by different modules`);
    registered.push(spec);
    byName.set(spec.name, spec);
  }
}

export function getOp(name: string): OpSpec<Attrs> {
  const op = byName.get(name);
  if (!op) {
    throw new Error(
      `unknown op '${name}' (known: ${[...byName.keys()].join(', ')}; feature ops are registered by importing src/register-all.ts)`,
    );
  }
  return op;
}

export function hasOp(name: string): boolean {
  return byName.has(name);
}
