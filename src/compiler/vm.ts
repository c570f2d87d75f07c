/**
 * The virtual machine: runs an `Executable` on any `Backend`. Per call it binds symbolic
 * dimensions from the arguments' shapes (checking every reuse), computes each destination's
 * shape on the host, takes its tensor from the planned storage slot, and dispatches kernels
 * (`backend.run`), tensor programs (`backend.runProgram` with the generated WGSL, or
 * `backend.runHostProgram` with the generated JavaScript on backends whose tensors live in host
 * memory) and host functions. Every step is issued synchronously.
 *
 * Storage: planned tokens live in a `StoragePool` (one backend tensor per token and shape, see
 * there); `stableStorage` never frees under a recorded dispatch stream.
 *
 * Example: `const vm = new VirtualMachine(exe, backend); const [y] = await vm.run('main', [x, w]);`
 */
import type { Attrs, Backend, Tensor } from '../backends/backend.js';
import { type Type, typeToString } from '../ir/types.js';
import { numel, paddedByteSize, toHost } from '../tensor/dtype.js';
import { SymError } from '../ir/sym/sym.js';
import { instantiateJs } from './codegen/js-program.js';
import { launchGrid, launchUniforms } from './codegen/wgsl-launch.js';
import { StoragePool } from './storage-pool.js';
import type { ExecFunc, Executable, Instr } from './executable.js';

export type Value = Tensor | readonly number[] | readonly Value[];

export class ShapeMismatchError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'ShapeMismatchError';
  }
}

const isTensor = (v: Value | undefined): v is Tensor =>
  v !== undefined && !Array.isArray(v) && typeof v === 'object' && 'dtype' in v;

/**
 * A host function (Relax's "packed function"): runs on the host, may enqueue backend work, and
 * writes its destination. Runtimes register their own — e.g. a model's paged-KV attention, which
 * appends to and reads a KV cache the graph never sees. One that must read results back before it
 * can write its destination (attention with a part computed on the host) returns a promise: `run`
 * waits for it before the next instruction; `runSync` refuses it.
 */
export type HostFunction = (
  vm: { readonly backend: Backend },
  args: readonly Value[],
  out: Tensor,
  attrs: Attrs,
) => void | Promise<void>;

/** Host functions every VM knows (pure; arguments are registers, the last is the destination). */
const HOST: Readonly<Record<string, HostFunction>> = {
  arange(vm, _args, out) {
    const n = numel(out.shape);
    vm.backend.write(
      out,
      toHost(
        out.dtype,
        Float64Array.from({ length: n }, (_, i) => i),
      ),
    );
  },
};

export interface RunStats {
  kernels: number;
  programs: number;
  hostCalls: number;
  allocations: number;
}

export interface VmOptions {
  /** Never free planned storage (a recorded dispatch stream binds it) until `release()`. */
  readonly stableStorage?: boolean;
  /**
   * Stable storage shared by calls at any dimensions up to these bounds (e.g. `{ n: 64, b: 64 }`):
   * each storage token is one allocation sized for the bounds, each call's tensors views of it
   * (storage-pool.ts). Returned tensors come from it too and stay the VM's: the caller must not
   * free them, and the next call overwrites them. Calls must run one after another on the device.
   * Where the backend has no `subview`, this is `stableStorage` alone.
   */
  readonly sharedUpTo?: Readonly<Record<string, number>>;
  readonly host?: Readonly<Record<string, HostFunction>>;
}

export class VirtualMachine {
  private readonly pool: StoragePool;
  /** Shared storage: each token's allocation size, per function (`capacityOf`). */
  private readonly capacities = new Map<ExecFunc, Map<string, number>>();
  /** Counts since construction (tests and benches read them). */
  readonly stats: RunStats = { kernels: 0, programs: 0, hostCalls: 0, allocations: 0 };

  constructor(
    readonly exe: Executable,
    readonly backend: Backend,
    readonly opts: VmOptions = {},
  ) {
    this.pool = new StoragePool(
      backend,
      opts.stableStorage === true || opts.sharedUpTo !== undefined,
      opts.sharedUpTo !== undefined,
    );
  }

  /** Runs `func` on `args`; returned tensors belong to the caller (free them when done). */
  async run(func: string, args: readonly Value[]): Promise<Value> {
    const { f, regs, env, boundBy } = this.prepare(func, args);
    for (const ins of f.instrs) {
      const pending = this.step(f, ins, regs, env, boundBy);
      if (pending) await pending;
    }
    return regs[f.ret]!;
  }

  /**
   * Enqueues the whole call without yielding (every dispatch is issued before this returns). That
   * is what a recorded dispatch stream needs: when a function's dimensions are all fixed
   * (`ExecFunc.symVars` empty, or fixed by the caller), the caller can capture
   * `() => vm.runSync(…)` once and replay it.
   */
  runSync(func: string, args: readonly Value[]): Value {
    const { f, regs, env, boundBy } = this.prepare(func, args);
    for (const ins of f.instrs) {
      const pending = this.step(f, ins, regs, env, boundBy);
      if (pending) throw new Error(`function '${func}': a host function completes asynchronously; use run()`);
    }
    return regs[f.ret]!;
  }

  private prepare(func: string, args: readonly Value[]) {
    const f = this.exe.funcs.get(func);
    if (!f) throw new Error(`executable has no function '${func}' (has ${[...this.exe.funcs.keys()].join(', ')})`);
    if (args.length !== f.params.length)
      throw new Error(
        `function '${func}' takes ${f.params.length} arguments (${f.params.map((p) => p.name).join(', ')}), got ${args.length}`,
      );
    const regs: (Value | undefined)[] = new Array(f.registers);
    args.forEach((a, i) => {
      regs[i] = a;
    });
    const env: Record<string, number> = {};
    const boundBy = new Map<string, string>();
    this.pool.beginCall();
    return { f, regs, env, boundBy };
  }

  /** Backend tensors the planned storage holds right now. */
  heldTensors(): number {
    return this.pool.size();
  }

  /** Bytes of shared storage (`sharedUpTo`) allocated so far; 0 without it. */
  sharedBytes(): number {
    return this.pool.sharedBytes();
  }

  /** Frees every planned storage slot (the executable stays usable). */
  release(): void {
    this.pool.release();
  }

  /** Executes one instruction. */
  private step(
    f: ExecFunc,
    ins: Instr,
    regs: (Value | undefined)[],
    env: Record<string, number>,
    boundBy: Map<string, string>,
  ): Promise<void> | undefined {
    switch (ins.op) {
      case 'match':
        this.match(f, regs[ins.src], ins.type, ins.what, env, boundBy);
        return;
      case 'move':
        regs[ins.dst] = regs[ins.src];
        return;
      case 'view':
        regs[ins.dst] = this.backend.view(
          this.tensor(regs[ins.src], ins.what),
          ins.shape.map((d) => d.eval(env)),
        );
        return;
      case 'tuple':
        regs[ins.dst] = ins.srcs.map((r) => regs[r]!);
        return;
      case 'get':
        regs[ins.dst] = (regs[ins.src] as readonly Value[])[ins.index];
        return;
      case 'shape':
        regs[ins.dst] = ins.dims.map((d) => d.eval(env));
        return;
      case 'alloc': {
        const shape = ins.shape.map((d) => d.eval(env));
        const desc = { dtype: ins.dtype, shape };
        const shared = this.pool.sharing;
        if (ins.token === undefined && !shared) {
          regs[ins.dst] = this.alloc(desc, ins.what);
          return;
        }
        // a returned tensor in shared storage takes a token of its own
        const token = ins.token === undefined ? `${f.name}/ret${ins.dst}` : `${f.name}/${ins.token}`;
        const before = this.pool.allocations;
        const capacity = shared ? this.capacityOf(f, token) : 0;
        regs[ins.dst] = this.pool.take(token, desc, `${f.name}.storage${ins.token ?? `.ret${ins.dst}`}`, capacity);
        this.stats.allocations += this.pool.allocations - before;
        return;
      }
      case 'kernel':
        this.stats.kernels++;
        this.backend.run(
          ins.name,
          ins.attrs,
          ins.args.map((r) => this.tensor(regs[r], ins.what)),
          (ins.outs ?? [ins.out]).map((r) => regs[r] as Tensor),
        );
        return;
      case 'host': {
        const fn = this.opts.host?.[ins.name] ?? HOST[ins.name];
        if (!fn) throw new Error(`function '${f.name}', binding '${ins.what}': unknown host function '${ins.name}'`);
        this.stats.hostCalls++;
        return (
          fn(
            this,
            ins.args.map((r) => regs[r]!),
            regs[ins.out] as Tensor,
            ins.attrs,
          ) ?? undefined
        );
      }
      case 'program':
        this.program(
          ins.name,
          ins.args.map((r) => this.tensor(regs[r], ins.what)),
          regs[ins.out] as Tensor,
          env,
        );
    }
  }

  /** Bytes of the largest tensor `token` holds at the `sharedUpTo` bounds (0 where a shape has a dimension they leave open). */
  private capacityOf(f: ExecFunc, token: string): number {
    let byToken = this.capacities.get(f);
    if (!byToken) {
      byToken = new Map();
      const bounds = this.opts.sharedUpTo ?? {};
      for (const ins of f.instrs) {
        if (ins.op !== 'alloc') continue;
        const key = ins.token === undefined ? `${f.name}/ret${ins.dst}` : `${f.name}/${ins.token}`;
        let bytes = 0;
        try {
          bytes = paddedByteSize(
            ins.dtype,
            ins.shape.map((d) => d.eval(bounds)),
          );
        } catch (e) {
          if (!(e instanceof SymError)) throw e;
        }
        byToken.set(key, Math.max(bytes, byToken.get(key) ?? 0));
      }
      this.capacities.set(f, byToken);
    }
    return byToken.get(token) ?? 0;
  }

  private alloc(desc: { dtype: Tensor['dtype']; shape: number[] }, label: string): Tensor {
    this.stats.allocations++;
    return this.backend.alloc(desc, label);
  }

  private tensor(v: Value | undefined, what: string): Tensor {
    if (!isTensor(v)) throw new Error(`binding '${what}': argument is not a tensor`);
    return v;
  }

  private program(name: string, args: Tensor[], out: Tensor, env: Readonly<Record<string, number>>): void {
    const cp = this.exe.programs.get(name);
    if (!cp) throw new Error(`executable has no tensor program '${name}'`);
    this.stats.programs++;
    if (this.backend.runProgram) {
      this.backend.runProgram(
        { wgsl: cp.wgsl.wgsl, entryPoint: cp.wgsl.entryPoint, workgroups: launchGrid(cp.program, env), name },
        [...args, out],
        launchUniforms(cp.wgsl.dims, env),
      );
      return;
    }
    if (this.backend.runHostProgram) {
      this.backend.runHostProgram(
        instantiateJs(cp.js),
        [...args, out],
        cp.js.dims.map((d) => {
          const v = env[d];
          if (v === undefined) throw new Error(`program '${name}' needs dimension '${d}'`);
          return v;
        }),
      );
      return;
    }
    throw new Error(
      `backend '${this.backend.name}' runs neither WGSL (runProgram) nor host programs (runHostProgram), so it cannot run tensor program '${name}'`,
    );
  }

  /** Binds or checks every dimension of `v` against `type`; errors name function, binding and axis. */
  private match(
    f: ExecFunc,
    v: Value | undefined,
    type: Type,
    what: string,
    env: Record<string, number>,
    boundBy: Map<string, string>,
  ): void {
    const where = `function '${f.name}'`;
    if (type.k === 'tensor') {
      if (!isTensor(v))
        throw new ShapeMismatchError(`${where}: '${what}' should be ${typeToString(type)}, got a non-tensor`);
      if (v.dtype !== type.dtype)
        throw new ShapeMismatchError(`${where}: '${what}' has dtype ${v.dtype}, its type says ${type.dtype}`);
      if (v.shape.length !== type.rank)
        throw new ShapeMismatchError(
          `${where}: '${what}' has rank ${v.shape.length} (shape [${v.shape.join(', ')}]), its type says ${typeToString(type)}`,
        );
      if (type.shape) this.matchDims(f, type.shape, v.shape, what, env, boundBy);
      return;
    }
    if (type.k === 'shape') {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number'))
        throw new ShapeMismatchError(`${where}: '${what}' should be a shape`);
      if (type.dims) this.matchDims(f, type.dims, v as number[], what, env, boundBy);
      return;
    }
    if (type.k === 'tuple') {
      if (!Array.isArray(v) || v.length !== type.fields.length)
        throw new ShapeMismatchError(`${where}: '${what}' should be a tuple of ${type.fields.length}`);
      type.fields.forEach((t, i) => this.match(f, (v as Value[])[i], t, `${what}[${i}]`, env, boundBy));
    }
  }

  private matchDims(
    f: ExecFunc,
    dims: readonly import('../ir/sym/sym.js').Sym[],
    got: readonly number[],
    what: string,
    env: Record<string, number>,
    boundBy: Map<string, string>,
  ): void {
    const where = `function '${f.name}'`;
    // first pass binds dimensions that are a lone variable; the second checks every dimension
    dims.forEach((d, axis) => {
      const name =
        d.terms.length === 1 &&
        d.c === 0 &&
        d.terms[0]!.coef === 1 &&
        d.terms[0]!.atoms.length === 1 &&
        d.terms[0]!.atoms[0]!.k === 'var'
          ? d.terms[0]!.atoms[0]!.name!
          : undefined;
      if (name === undefined || env[name] !== undefined) return;
      const value = got[axis]!;
      const ub = f.upper[name];
      if (ub !== undefined && value > ub)
        throw new ShapeMismatchError(
          `${where}: '${name}' = ${value} (from '${what}' axis ${axis}) exceeds the upper bound ${ub} the function was compiled for`,
        );
      env[name] = value;
      boundBy.set(name, `'${what}' axis ${axis}`);
    });
    dims.forEach((d, axis) => {
      let want: number;
      try {
        want = d.eval(env);
      } catch {
        throw new ShapeMismatchError(`${where}: '${what}' axis ${axis} is ${d}, which no earlier value defines`);
      }
      const value = got[axis]!;
      if (want === value) return;
      const vars = d.vars();
      if (vars.length === 1 && d.toString() === vars[0]) {
        throw new ShapeMismatchError(
          `${where}: '${vars[0]}' was bound to ${want} by ${boundBy.get(vars[0]!) ?? 'the caller'} but '${what}' has ${value} at axis ${axis}`,
        );
      }
      const from = vars.map((x) => `${x} = ${env[x]} from ${boundBy.get(x) ?? 'the caller'}`).join(', ');
      throw new ShapeMismatchError(
        `${where}: '${what}' has ${value} at axis ${axis} but its type says ${d} = ${want}${from ? ` (${from})` : ''}`,
      );
    });
  }
}
