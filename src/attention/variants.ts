/**
 * Attention variants: FlashInfer's JIT idea on WGSL. A variant is a small object of hooks the
 * kernel template splices in — a query/key transform (applied to Q and K rows as they are loaded,
 * e.g. RoPE), a logits transform (soft-cap, ALiBi), a mask (causal, sliding window, custom) and
 * an output transform — each with a float64 twin the CPU oracle runs. Every distinct variant
 * yields distinct WGSL, so the pipeline cache (keyed by WGSL) keeps one pipeline per variant.
 *
 * Ops carry a plain-data `VariantSpec` (attrs stay serialisable); `buildVariant` turns it into
 * hooks, and user-written `AttentionVariant`s can be appended through `spec.extra`.
 */

export interface Llama3RopeScaling {
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositions: number;
}

export interface RopeSpec {
  readonly theta: number;
  /** Llama-3.1-style frequency scaling; absent means plain Llama RoPE. */
  readonly scaling?: Llama3RopeScaling;
}

/** The variant as plain data, the form it takes in op attributes. */
export interface VariantSpec {
  readonly causal?: boolean;
  /** Keys more than `windowLeft` positions before the query are masked (sliding window). */
  readonly windowLeft?: number;
  /** logits ← cap·tanh(logits / cap) (Gemma-2). */
  readonly softCap?: number;
  /** Adds slope_h · (kpos − qpos) with the standard ALiBi slopes. */
  readonly alibi?: boolean;
  /** Reads a 0/1 mask per (query token, key) from two extra inputs: mask i32 and its per-request offsets. */
  readonly customMask?: boolean;
  /** RoPE fused into the Q/K load: the cache keeps un-rotated keys. */
  readonly rope?: RopeSpec;
  /** User-written hooks, applied after the built-in ones. */
  readonly extra?: readonly AttentionVariant[];
}

/** Where a hook runs: identifiers the template guarantees to be in scope (WGSL) or passed (reference). */
export interface MaskContext {
  readonly b: number;
  readonly qi: number;
  readonly qpos: number;
  readonly kpos: number;
  readonly head: number;
  readonly kvLen: number;
  readonly numQoHeads: number;
  readonly mask?: Float64Array;
  readonly maskOffset?: number;
}

/**
 * One variant's hooks. WGSL snippets may use: `s` (f32 logit after scaling), `head` (u32 query
 * head), `qpos`/`kpos` (i32 positions), `qi` (i32 token index in the request), `kv_len` (i32),
 * `b` (u32 request), and `mask_at(b, qi, kpos, kv_len)` when a custom mask is bound.
 */
export interface AttentionVariant {
  readonly name: string;
  /** Module-scope WGSL (constants, helper functions). */
  readonly decls?: (ctx: VariantContext) => string;
  readonly logits?: { readonly wgsl: string; readonly ref: (s: number, c: MaskContext) => number };
  /** true keeps the key. */
  readonly mask?: { readonly wgsl: string; readonly ref: (c: MaskContext) => boolean };
  /**
   * Rewrites element `d` of a Q or K row at position `pos`; `partner` is element (d + D/2) mod D of
   * the same row (what a rotation needs). WGSL: a body for `fn(x: f32, partner: f32, d: u32, pos: i32, is_key: bool) -> f32`.
   */
  readonly qkTransform?: {
    readonly wgsl: (ctx: VariantContext) => string;
    readonly ref: (x: number, partner: number, d: number, pos: number, isKey: boolean, ctx: VariantContext) => number;
  };
  /** Rewrites each output element `o` of query head `head` (after normalisation). */
  readonly output?: { readonly wgsl: string; readonly ref: (o: number, head: number) => number };
  /** Needs the mask inputs bound. */
  readonly usesMaskInput?: boolean;
}

export interface VariantContext {
  readonly headDim: number;
  readonly numQoHeads: number;
}

/** Inverse frequencies of rotate-half RoPE, with Llama-3 scaling when asked (computed in float64). */
export function ropeInvFreq(rope: RopeSpec, headDim: number): Float64Array {
  const half = headDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    let f = rope.theta ** (-(2 * i) / headDim);
    const s = rope.scaling;
    if (s) {
      const lowWave = s.originalMaxPositions / s.lowFreqFactor;
      const highWave = s.originalMaxPositions / s.highFreqFactor;
      const wave = (2 * Math.PI) / f;
      if (wave > lowWave) f = f / s.factor;
      else if (wave >= highWave) {
        const smooth = (s.originalMaxPositions / wave - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        f = (1 - smooth) * (f / s.factor) + smooth * f;
      }
    }
    out[i] = f;
  }
  return out;
}

/** ALiBi slopes for `n` heads (the paper's geometric sequence, interleaved when n is not a power of two). */
export function alibiSlopes(n: number): Float64Array {
  const p = 2 ** Math.floor(Math.log2(n));
  const out = new Float64Array(n);
  const m0 = 2 ** (-8 / p);
  const m1 = 2 ** (-4 / p);
  for (let h = 0; h < n; h++) out[h] = h < p ? m0 ** (h + 1) : m1 ** (2 * (h - p) + 1);
  return out;
}

const slopeCache = new Map<number, Float64Array>();
function slopesFor(n: number): Float64Array {
  let s = slopeCache.get(n);
  if (!s) slopeCache.set(n, (s = alibiSlopes(n)));
  return s;
}

export const wgslF32 = (x: number): string => {
  const s = Math.fround(x).toPrecision(9);
  return /[.eE]/.test(s) ? s : `${s}.0`;
};

export const causal: AttentionVariant = {
  name: 'causal',
  mask: { wgsl: 'kpos <= qpos', ref: (c) => c.kpos <= c.qpos },
};

export function slidingWindow(windowLeft: number): AttentionVariant {
  if (!(Number.isInteger(windowLeft) && windowLeft >= 0))
    throw new Error(`sliding window: windowLeft must be a non-negative integer, got ${windowLeft}`);
  return {
    name: `win${windowLeft}`,
    mask: { wgsl: `qpos - kpos <= ${windowLeft}`, ref: (c) => c.qpos - c.kpos <= windowLeft },
  };
}

export function softCap(cap: number): AttentionVariant {
  if (!(cap > 0)) throw new Error(`soft-cap must be positive, got ${cap}`);
  // tanh's argument is clamped: some drivers overflow exp() inside tanh for large inputs
  return {
    name: `cap${cap}`,
    logits: {
      wgsl: `${wgslF32(cap)} * tanh(clamp(s / ${wgslF32(cap)}, -15.0, 15.0))`,
      ref: (s) => cap * Math.tanh(s / cap),
    },
  };
}

export const alibi: AttentionVariant = {
  name: 'alibi',
  decls: ({ numQoHeads }) =>
    `const ALIBI = array<f32, ${numQoHeads}>(${Array.from(alibiSlopes(numQoHeads), wgslF32).join(', ')});`,
  logits: {
    wgsl: 's + ALIBI[head] * f32(kpos - qpos)',
    ref: (s, c) => s + slopesFor(c.numQoHeads)[c.head]! * (c.kpos - c.qpos),
  },
};

export const customMask: AttentionVariant = {
  name: 'mask',
  usesMaskInput: true,
  mask: { wgsl: 'mask_at(b, qi, kpos, kv_len)', ref: (c) => c.mask![c.maskOffset! + c.qi * c.kvLen + c.kpos]! !== 0 },
};

export function rope(spec: RopeSpec): AttentionVariant {
  const name = spec.scaling ? `rope3_${spec.theta}_${spec.scaling.factor}` : `rope${spec.theta}`;
  const freqCache = new Map<number, Float64Array>();
  const freqs = (headDim: number): Float64Array => {
    let f = freqCache.get(headDim);
    if (!f) freqCache.set(headDim, (f = ropeInvFreq(spec, headDim)));
    return f;
  };
  return {
    name,
    qkTransform: {
      // angles in turns (frequency / 2π, rounded once) so fract() does an accurate range reduction
      wgsl: ({ headDim }) => {
        const turns = Array.from(ropeInvFreq(spec, headDim), (f) => wgslF32(f / (2 * Math.PI)));
        return `let freq_turns = array<f32, ${headDim / 2}>(${turns.join(', ')});
  let half = ${headDim / 2}u;
  let a = 6.283185307 * fract(f32(pos) * freq_turns[d % half]);
  if (d < half) { return x * cos(a) - partner * sin(a); }
  return x * cos(a) + partner * sin(a);`;
      },
      ref: (x, partner, d, pos, _isKey, { headDim }) => {
        const half = headDim / 2;
        const a = pos * freqs(headDim)[d % half]!;
        return d < half ? x * Math.cos(a) - partner * Math.sin(a) : x * Math.cos(a) + partner * Math.sin(a);
      },
    },
  };
}

/** The hooks of a spec, in the order they apply. */
export function variantParts(spec: VariantSpec): AttentionVariant[] {
  const parts: AttentionVariant[] = [];
  if (spec.rope) parts.push(rope(spec.rope));
  if (spec.softCap !== undefined) parts.push(softCap(spec.softCap));
  if (spec.alibi) parts.push(alibi);
  if (spec.causal) parts.push(causal);
  if (spec.windowLeft !== undefined && spec.windowLeft >= 0) parts.push(slidingWindow(spec.windowLeft));
  if (spec.customMask) parts.push(customMask);
  parts.push(...(spec.extra ?? []));
  if (parts.filter((p) => p.qkTransform).length > 1)
    throw new Error('attention variant: at most one query/key transform');
  return parts;
}

export function variantName(spec: VariantSpec): string {
  return (
    variantParts(spec)
      .map((p) => p.name)
      .join('+') || 'plain'
  );
}

/** Whether the variant depends on absolute positions (cascade splits positions, so it refuses these). */
export function isPositional(spec: VariantSpec): boolean {
  return !!(spec.rope || spec.alibi || (spec.windowLeft !== undefined && spec.windowLeft >= 0) || spec.customMask);
}
