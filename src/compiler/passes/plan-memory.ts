/**
 * Static memory planning (Relax's StaticPlanBlockMemory idea): every tensor a call writes gets a
 * storage token; tokens are reused across tensors whose lifetimes do not overlap. Sizes are
 * symbolic bytes. With per-function upper bounds (e.g. `{ n: 4096 }`) a token's capacity is a
 * constant — the largest bound of what it holds — so it can be allocated once for every `n`.
 * Without a bound, a token is reused only when the new tensor provably fits (symbolic `≤`).
 * Returned tensors are not planned: the caller owns them.
 */
import { type Binding, type Expr, type Func, IRError, allBindings, exprVars } from '../../ir/graph.js';
import { boundsFromUpper, proveLE, upperBound } from '../../ir/sym/prove.js';
import { type Bounds, Sym } from '../../ir/sym/sym.js';
import { type TensorType, typeToString } from '../../ir/types.js';
import { bytesPerElement } from '../../tensor/dtype.js';

export interface StorageToken {
  readonly id: number;
  /** Capacity in bytes: a constant when every dimension is bounded, else symbolic. */
  readonly bytes: Sym;
}

export interface MemoryPlan {
  readonly func: string;
  readonly tokens: readonly StorageToken[];
  /** Planned tensor (binding variable) → token id. */
  readonly assign: ReadonlyMap<string, number>;
  /** Tensors the function returns (allocated per call, owned by the caller). */
  readonly external: ReadonlySet<string>;
  readonly bounds: Bounds;
}

/** Bytes a tensor takes on a backend: whole u32 words, at least one (as `paddedByteSize`). */
export function tensorBytes(t: TensorType): Sym {
  if (!t.shape) throw new Error('tensorBytes needs a shape');
  const raw = t.shape.reduce((a, d) => a.mul(d), Sym.const(1)).mul(bytesPerElement(t.dtype));
  return raw.add(3).floorDiv(4).mul(4).max(4);
}

/** A reshape: the host call `view` names its argument's storage under another shape. */
export function isView(e: Expr): boolean {
  return e.k === 'call' && e.kind === 'host' && e.callee === 'view';
}

/** Bindings that allocate a fresh tensor (calls write into a destination; views do not). */
export function allocates(b: Binding): boolean {
  return !b.matchCast && b.value.k === 'call' && !isView(b.value);
}

/**
 * The tensors an allocating binding writes, by storage name: its variable, or `var.i` for field i
 * of a tuple a kernel returns (a projection group's outputs), each planned on its own.
 */
export function allocatedTensors(b: Binding): [string, TensorType][] {
  if (!allocates(b)) return [];
  const t = b.var.type;
  if (t.k === 'tuple') return t.fields.map((f, i) => [`${b.var.name}.${i}`, f as TensorType]);
  return [[b.var.name, t as TensorType]];
}

/**
 * Storage roots: a binding that merely renames (x = y, match_cast, tuple field) shares the
 * storage of what it names. Returns, for every variable, the allocating variables it keeps alive.
 */
export function storageRoots(f: Func): Map<string, string[]> {
  const roots = new Map<string, string[]>();
  const fields = new Map<string, string[]>();
  for (const p of f.params) roots.set(p.name, []);
  const of = (e: Expr): string[] => {
    switch (e.k) {
      case 'var':
        return roots.get(e.name) ?? [];
      case 'shape':
        return [];
      case 'tuple':
        return e.fields.flatMap(of);
      case 'get': {
        const own = e.tuple.k === 'var' ? fields.get(e.tuple.name) : undefined;
        return own ? [own[e.index]!] : of(e.tuple);
      }
      case 'call':
        return isView(e) ? of(e.args[0]!) : [];
    }
  };
  for (const b of allBindings(f)) {
    const names = allocatedTensors(b).map(([n]) => n);
    if (b.var.type.k === 'tuple' && names.length) fields.set(b.var.name, names);
    roots.set(b.var.name, allocates(b) ? names : of(b.value));
  }
  return roots;
}

/** Closed live intervals [def, last use] over binding indices (the return counts as one past the end). */
export function liveIntervals(f: Func): Map<string, [number, number]> {
  const bs = allBindings(f);
  const roots = storageRoots(f);
  const live = new Map<string, [number, number]>();
  bs.forEach((b, i) => {
    for (const [name] of allocatedTensors(b)) live.set(name, [i, i]);
  });
  const touch = (name: string, i: number) => {
    for (const r of roots.get(name) ?? []) {
      const iv = live.get(r);
      if (iv && i > iv[1]) iv[1] = i;
    }
  };
  bs.forEach((b, i) => {
    exprVars(b.value).forEach((v) => touch(v.name, i));
    if (!allocates(b)) touch(b.var.name, i);
  });
  exprVars(f.ret).forEach((v) => touch(v.name, bs.length));
  return live;
}

export function planMemory(f: Func): MemoryPlan {
  const bs = allBindings(f);
  const bounds = boundsFromUpper(f.upper);
  const live = liveIntervals(f);
  const roots = storageRoots(f);
  const external = new Set(exprVars(f.ret).flatMap((v) => roots.get(v.name) ?? []));
  const tokens: { id: number; bytes: Sym; held: Set<string> }[] = [];
  const free: number[] = [];
  const assign = new Map<string, number>();
  const endsAt = new Map<number, string[]>();
  for (const [name, [, e]] of live) endsAt.set(e, [...(endsAt.get(e) ?? []), name]);
  bs.forEach((b, i) => {
    for (const [name, t] of allocatedTensors(b)) {
      if (external.has(name)) continue;
      if (t.k !== 'tensor' || !t.shape)
        throw new IRError(
          { func: f.name, binding: b.var.name },
          'memory planning needs a tensor with a known shape (insert a match_cast)',
        );
      const need = tensorBytes(t);
      const ub = upperBound(need, bounds);
      // a token that already held this exact type first: without backend views, equal shapes are what share memory at run time
      const typeKey = typeToString(t);
      let pick = free.find((id) => tokens[id]!.held.has(typeKey)) ?? -1;
      if (pick >= 0) {
        // nothing to grow: the token already holds a tensor of this size
      } else if (Number.isFinite(ub)) {
        // best fit among constant-capacity tokens; else grow the largest (capacity becomes the max bound)
        let best = Infinity;
        for (const id of free) {
          const cap = tokens[id]!.bytes.value;
          if (cap !== undefined && cap >= ub && cap < best) {
            best = cap;
            pick = id;
          }
        }
        if (pick < 0) {
          let largest = -1;
          for (const id of free) {
            const cap = tokens[id]!.bytes.value;
            if (cap !== undefined && cap > largest) {
              largest = cap;
              pick = id;
            }
          }
          if (pick >= 0) tokens[pick]!.bytes = Sym.const(ub);
        }
      } else {
        pick = free.find((id) => proveLE(need, tokens[id]!.bytes, bounds)) ?? -1;
      }
      if (pick < 0) {
        pick = tokens.length;
        tokens.push({ id: pick, bytes: Number.isFinite(ub) ? Sym.const(ub) : need, held: new Set() });
      } else free.splice(free.indexOf(pick), 1);
      tokens[pick]!.held.add(typeKey);
      assign.set(name, pick);
    }
    // release after allocating: a call's inputs and outputs must never share storage
    for (const name of endsAt.get(i) ?? []) {
      const id = assign.get(name);
      if (id !== undefined) free.push(id);
    }
  });
  return { func: f.name, tokens: tokens.map(({ id, bytes }) => ({ id, bytes })), assign, external, bounds };
}

/** Total bytes of all tokens under the bounds (Infinity when some capacity is unbounded). */
export function planBytes(p: MemoryPlan): number {
  return p.tokens.reduce((a, t) => a + upperBound(t.bytes, p.bounds), 0);
}

export function printPlan(p: MemoryPlan): string {
  const lines = [`plan @${p.func}: ${p.tokens.length} storage token(s), ${planBytes(p)} bytes at the upper bounds`];
  for (const t of p.tokens) {
    const users = [...p.assign].filter(([, id]) => id === t.id).map(([v]) => v);
    lines.push(`  storage ${t.id}: ${t.bytes.toString()} bytes <- ${users.join(', ')}`);
  }
  if (p.external.size) lines.push(`  returned (caller-owned): ${[...p.external].join(', ')}`);
  return lines.join('\n') + '\n';
}
