/**
 * The dispatches a kernel's `encode` made for one (op, attrs object, input and output types), kept
 * so the next call of the same shapes skips the kernel choice (`whyUnsupported` down the op's list),
 * output shape inference, the kernel's planning and its shader key: an unrecorded step calls the
 * same ops with the same attrs objects (the compiled function's instructions) every time.
 *
 * This holds because encoding is a function of those alone — the property recorded dispatch streams
 * already rely on: per-step data reaches kernels through buffers, and what a step decides on the
 * host is a `when` condition asked at every encode. Each buffer a dispatch bound is remembered by
 * its role: the i-th input or output tensor (the key includes which tensors share a buffer), a
 * scratch buffer (asked for again, same size) or a buffer of the kernel's own (bound as is).
 */
import type { Attrs, TensorDesc } from '../backend.js';
import type { BufferRange, GpuTensor, KernelContext, ShaderSpec } from './kernel.js';

type Role =
  | {
      readonly k: 'tensor';
      readonly index: number;
      readonly offset?: number;
      readonly size?: number;
      readonly whole: boolean;
    }
  | { readonly k: 'scratch'; readonly index: number; readonly offset?: number; readonly size?: number }
  | { readonly k: 'fixed'; readonly range: GpuTensor | BufferRange };

/** What the backend resolved for a kept dispatch: its pipeline, and the bind group of the buffers it was last given. */
export interface ResolvedDispatch {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly counts: readonly [number, number, number];
  buffers: GPUBuffer[];
  group: GPUBindGroup | null;
}

export interface MemoDispatch {
  readonly shader: ShaderSpec;
  readonly roles: readonly Role[];
  readonly uniforms: Uint32Array | null;
  readonly workgroups: readonly [number, number?, number?];
  readonly when?: () => boolean;
  /** Filled by the backend on the first replay. */
  resolved?: ResolvedDispatch;
}

export interface EncodedOp {
  readonly scratch: readonly { readonly bytes: number; readonly label: string }[];
  readonly dispatches: readonly MemoDispatch[];
  /** Hits compared with a fresh encode so far (see `EncodeMemo.verify`). */
  verified?: number;
}

/** The memo key of a call: op, then each tensor's dtype, shape and the first earlier tensor sharing its buffer. */
export function callKey(op: string, tensors: readonly GpuTensor[]): string {
  let key = op;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]!;
    let alias = i;
    for (let j = 0; j < i; j++)
      if (tensors[j]!.buffer === t.buffer) {
        alias = j;
        break;
      }
    key += `|${t.dtype}[${t.shape.join(',')}]${alias === i ? '' : `@${alias}`}`;
  }
  return key;
}

/** Thrown (with `verify` on) when a call's fresh encoding differs from the one kept for its key. */
export class StaleEncodingError extends Error {
  constructor(op: string, what: string) {
    super(
      `kernel call '${op}' encodes differently than the first call of its attrs and types (${what}): its encoding depends on something else`,
    );
    this.name = 'StaleEncodingError';
  }
}

/**
 * Encodings kept per attrs object: a server sees many token counts, each a key of its own; past
 * this many the least recently used goes.
 */
const PER_ATTRS = 64;
const VERIFIED_HITS = 4;

export class EncodeMemo {
  private readonly byAttrs = new WeakMap<Attrs, Map<string, EncodedOp>>();
  hits = 0;
  misses = 0;
  /**
   * Encode the first `VERIFIED_HITS` hits of each kept encoding afresh (without dispatching) and
   * compare them with it (a debug check; tests turn it on). An encoding that depends on anything
   * but its key differs at once in the tests' steps; checking every hit would double the cost of
   * every kernel call in the slower serving tests.
   */
  verify = false;

  /** Whether this hit of `e` is to be compared with a fresh encode. */
  toVerify(e: EncodedOp): boolean {
    if (!this.verify || (e.verified ?? 0) >= VERIFIED_HITS) return false;
    e.verified = (e.verified ?? 0) + 1;
    return true;
  }

  get(attrs: Attrs, key: string): EncodedOp | undefined {
    const m = this.byAttrs.get(attrs);
    const e = m?.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // most recently used last, so eviction takes the least recently used
    if (m!.size > 1) {
      m!.delete(key);
      m!.set(key, e);
    }
    return e;
  }

  set(attrs: Attrs, key: string, encoded: EncodedOp): void {
    let m = this.byAttrs.get(attrs);
    if (!m) this.byAttrs.set(attrs, (m = new Map()));
    if (m.size >= PER_ATTRS) m.delete(m.keys().next().value!);
    m.set(key, encoded);
  }
}

/**
 * A context that forwards to `ctx` and writes down what it is asked, in roles relative to
 * `tensors` (the call's inputs then outputs); `finish()` gives the memo entry.
 */
export function capturingContext(
  ctx: KernelContext,
  tensors: readonly GpuTensor[],
): { ctx: KernelContext; finish(): EncodedOp } {
  const scratch: { bytes: number; label: string; buffer: GPUBuffer }[] = [];
  const dispatches: MemoDispatch[] = [];
  const roleOf = (b: GpuTensor | BufferRange): Role => {
    const range = 'byteSize' in b ? {} : { offset: b.offset, size: b.size };
    const t = tensors.findIndex((x) => x.buffer === b.buffer);
    if (t >= 0) return { k: 'tensor', index: t, ...range, whole: 'byteSize' in b };
    const s = scratch.findIndex((x) => x.buffer === b.buffer);
    if (s >= 0) return { k: 'scratch', index: s, ...range };
    return { k: 'fixed', range: b };
  };
  return {
    ctx: {
      caps: ctx.caps,
      device: ctx.device,
      dispatch(shader, buffers, uniforms, workgroups, when) {
        dispatches.push({
          shader,
          roles: buffers.map(roleOf),
          uniforms: uniforms ? uniforms.slice() : null,
          workgroups,
          ...(when ? { when } : {}),
        });
        ctx.dispatch(shader, buffers, uniforms, workgroups, when);
      },
      scratch(bytes, label) {
        const r = ctx.scratch(bytes, label);
        scratch.push({ bytes, label, buffer: r.buffer });
        return r;
      },
    },
    finish: () => ({ scratch: scratch.map(({ bytes, label }) => ({ bytes, label })), dispatches }),
  };
}

/** A context that only writes down what it is asked (for `verify`): scratch buffers are stand-ins. */
export function dryContext(caps: KernelContext['caps'], device: GPUDevice, tensors: readonly GpuTensor[]) {
  const inner: KernelContext = {
    caps,
    device,
    dispatch: () => {},
    scratch: () => ({ buffer: {} as GPUBuffer }),
  };
  return capturingContext(inner, tensors);
}

function sameRole(a: Role, b: Role): boolean {
  if (a.k === 'fixed' || b.k === 'fixed')
    return a.k === 'fixed' && b.k === 'fixed' && a.range.buffer === b.range.buffer;
  return a.k === b.k && a.index === b.index && a.offset === b.offset && a.size === b.size;
}

/** What differs between two encodings of one call, or null. */
export function encodingDifference(kept: EncodedOp, fresh: EncodedOp): string | null {
  if (kept.dispatches.length !== fresh.dispatches.length)
    return `${kept.dispatches.length} dispatches kept, ${fresh.dispatches.length} now`;
  if (kept.scratch.map((s) => s.bytes).join() !== fresh.scratch.map((s) => s.bytes).join()) return 'scratch sizes';
  for (let i = 0; i < kept.dispatches.length; i++) {
    const [k, f] = [kept.dispatches[i]!, fresh.dispatches[i]!];
    const where = `dispatch ${i} '${k.shader.label}'`;
    if (k.shader.label !== f.shader.label) return `${where}: now '${f.shader.label}'`;
    const text = (d: MemoDispatch) =>
      d.shader.key ?? (typeof d.shader.wgsl === 'string' ? d.shader.wgsl : d.shader.wgsl());
    if (text(k) !== text(f)) return `${where}: shader key`;
    if (k.shader.access.join() !== f.shader.access.join()) return `${where}: binding access`;
    if (k.roles.length !== f.roles.length || k.roles.some((r, j) => !sameRole(r, f.roles[j]!)))
      return `${where}: bound buffers`;
    if (String(k.uniforms) !== String(f.uniforms)) return `${where}: uniforms`;
    if (k.workgroups.join() !== f.workgroups.join()) return `${where}: workgroups`;
    if (!k.when !== !f.when) return `${where}: condition`;
  }
  return null;
}

/** A kept dispatch's buffers for this call's `tensors` (inputs then outputs) and `scratch`. */
export function resolveBuffers(
  d: MemoDispatch,
  tensors: readonly GpuTensor[],
  scratch: readonly BufferRange[],
): (GpuTensor | BufferRange)[] {
  return d.roles.map((r): GpuTensor | BufferRange => {
    if (r.k === 'fixed') return r.range;
    if (r.k === 'tensor' && r.whole) return tensors[r.index]!;
    const buffer = r.k === 'tensor' ? tensors[r.index]!.buffer : scratch[r.index]!.buffer;
    return r.offset === undefined && r.size === undefined ? { buffer } : { buffer, offset: r.offset, size: r.size };
  });
}

/** Enqueues a memo entry's dispatches through `ctx` on this call's `tensors` (inputs then outputs). */
export function replayEncoded(ctx: KernelContext, e: EncodedOp, tensors: readonly GpuTensor[]): void {
  const scratch = e.scratch.map((s) => ctx.scratch(s.bytes, s.label));
  for (const d of e.dispatches)
    ctx.dispatch(d.shader, resolveBuffers(d, tensors, scratch), d.uniforms, d.workgroups, d.when);
}

/** The descriptors of `tensors`, for callers that key on types only. */
export const descsOf = (tensors: readonly GpuTensor[]): TensorDesc[] =>
  tensors.map((t) => ({ dtype: t.dtype, shape: t.shape }));
