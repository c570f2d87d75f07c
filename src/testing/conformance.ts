/**
 * One conformance suite for every backend (ggml's test-backend-ops): each op's random cases run
 * on the backend with outputs poisoned first, and are compared with the float64 reference.
 * Poison is NaN for floats and a sentinel for integers, so an element the kernel never wrote fails,
 * and NaN never passes a comparison.
 */
import type { Attrs, Backend, Tensor, TensorDesc } from '../backends/backend.js';
import { CpuBackend } from '../backends/cpu/cpu-backend.js';
import { allocHost, isFloat, numel, toFloat64, toHost, type HostArray } from '../tensor/dtype.js';
import type { OpCase, OpSpec, Tolerance } from '../ops/op-spec.js';
import { OPS } from '../ops/registry.js';
import { Rng } from '../util/rng.js';

export const INT_POISON = -0x5eadbeef | 0;

export interface CaseResult {
  readonly op: string;
  readonly label: string;
  readonly ok: boolean;
  readonly skipped?: string;
  readonly message?: string;
  readonly ms?: number;
}

function poison(desc: TensorDesc): HostArray {
  const n = numel(desc.shape);
  if (isFloat(desc.dtype)) return toHost(desc.dtype, new Float64Array(n).fill(NaN));
  const out = allocHost(desc.dtype, n);
  out.fill(desc.dtype === 'u8' ? 0xa5 : desc.dtype === 'i8' ? -91 : desc.dtype === 'u32' ? 0xa5a5a5a5 : INT_POISON);
  return out;
}

/** Compares element-wise; returns a message naming the worst element, or null. */
export function compare(got: Float64Array, want: Float64Array, tol: Tolerance | 'exact'): string | null {
  if (got.length !== want.length) return `length ${got.length}, expected ${want.length}`;
  let bad = -1;
  let worst = 0;
  let failures = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    let excess: number;
    if (tol === 'exact') excess = g === w ? 0 : Infinity;
    else if (Number.isNaN(g) || Number.isNaN(w)) excess = Number.isNaN(g) && Number.isNaN(w) ? 0 : Infinity;
    else if (g === w) excess = 0;
    else excess = Math.abs(g - w) / (tol.abs + tol.rel * Math.abs(w));
    if (excess > 1) {
      failures++;
      if (excess > worst || bad < 0) {
        worst = excess;
        bad = i;
      }
    }
  }
  if (bad < 0) return null;
  return (
    `${failures}/${got.length} elements off; worst at [${bad}]: got ${got[bad]}, want ${want[bad]}` +
    (Number.isNaN(got[bad]!) ? ' (NaN: unwritten or invalid)' : '')
  );
}

/**
 * Why running this case on this backend would compare the oracle with itself, or null when the
 * backend's kernel for it is independent of the float64 reference. The CPU backend runs the
 * reference for the ops and variants it has no kernel for (`CpuBackend.servedByReference`).
 */
export function runsTheOracle(backend: Backend, op: string, c: OpCase<Attrs>): string | null {
  return backend instanceof CpuBackend &&
    backend.servedByReference(
      op,
      c.attrs,
      c.inputs.map((i) => i.desc),
    )
    ? `the CPU backend runs the float64 oracle for ${op} with these attributes`
    : null;
}

/** Runs one case on a backend; never throws for a wrong result, only reports it. */
export async function runCase(backend: Backend, op: OpSpec<Attrs>, c: OpCase<Attrs>): Promise<CaseResult> {
  const inDescs = c.inputs.map((i) => i.desc);
  if (!backend.supportsOp(op.name, c.attrs, inDescs))
    return { op: op.name, label: c.label, ok: true, skipped: 'not supported' };
  const outDescs = op.outputs(c.attrs, inDescs);
  const inputs64 = c.inputs.map((i) => toFloat64(i.desc.dtype, i.data));
  const want = op.reference(c.attrs, inputs64, inDescs, outDescs).map((w, i) => {
    // the reference is compared after rounding to the stored output type, as a kernel must round
    const d = outDescs[i]!;
    return toFloat64(d.dtype, toHost(d.dtype, w));
  });
  const tensors: Tensor[] = [];
  try {
    const ins = c.inputs.map((i, k) => {
      const t = backend.alloc(i.desc, `${op.name}.in${k}`);
      tensors.push(t);
      backend.write(t, i.data);
      return t;
    });
    const outs = outDescs.map((d, k) => {
      const t = backend.alloc(d, `${op.name}.out${k}`);
      tensors.push(t);
      backend.write(t, poison(d));
      return t;
    });
    await backend.flush();
    const t0 = performance.now();
    backend.run(op.name, c.attrs, ins, outs);
    await backend.flush();
    const ms = performance.now() - t0;
    const got = await Promise.all(outs.map(async (t, k) => toFloat64(outDescs[k]!.dtype, await backend.read(t))));
    let message: string | null = null;
    if (op.check) message = op.check(c.attrs, inputs64, got, want, inDescs);
    else {
      const tol = op.tolerance(c.attrs, inDescs);
      for (let k = 0; k < got.length && !message; k++) {
        const exact = !isFloat(outDescs[k]!.dtype);
        const m = compare(got[k]!, want[k]!, exact ? 'exact' : tol);
        if (m) message = `output ${k}: ${m}`;
      }
    }
    return message
      ? { op: op.name, label: c.label, ok: false, message, ms }
      : { op: op.name, label: c.label, ok: true, ms };
  } finally {
    for (const t of tensors) backend.free(t);
  }
}

export interface ConformanceOptions {
  seed: number;
  big?: boolean;
  ops?: readonly string[];
}

/** Every case of every (selected) op, generated from one seed so a failure can be replayed. */
export function conformanceCases(opts: ConformanceOptions): { op: OpSpec<Attrs>; cases: OpCase<Attrs>[] }[] {
  const rng = new Rng(opts.seed);
  return OPS.filter((op) => !opts.ops || opts.ops.includes(op.name)).map((op) => ({
    op,
    cases: op.cases(rng, { big: !!opts.big }),
  }));
}

/** Runs the whole suite against one backend and returns every result. */
export async function runBackendConformance(backend: Backend, opts: ConformanceOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const { op, cases } of conformanceCases(opts)) {
    for (const c of cases) results.push(await runCase(backend, op, c));
  }
  return results;
}
