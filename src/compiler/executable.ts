/**
 * The compiled form: per function a flat instruction list over registers, plus every tensor
 * program with its generated WGSL (GPU backends) and JavaScript (the CPU backend). Nothing in it depends on a concrete dimension, so one
 * executable serves every `n` — the VM only evaluates symbolic shapes on the host.
 */
import type { Attrs } from '../backends/backend.js';
import type { Sym } from '../ir/sym/sym.js';
import type { TensorProgram } from '../ir/tir/program.js';
import type { Type } from '../ir/types.js';
import type { DType } from '../tensor/dtype.js';
import type { JsProgram } from './codegen/js-program.js';
import type { WgslProgram } from './codegen/wgsl-program.js';
import type { MemoryPlan } from './passes/plan-memory.js';

export type Instr =
  /** Binds new symbolic variables from a value's run-time shape and checks the rest. */
  | { readonly op: 'match'; readonly src: number; readonly type: Type; readonly what: string }
  /** A destination tensor: from storage token `token`, or fresh (returned values) when undefined. */
  | {
      readonly op: 'alloc';
      readonly dst: number;
      readonly dtype: DType;
      readonly shape: readonly Sym[];
      readonly token?: number;
      readonly what: string;
    }
  | {
      readonly op: 'kernel';
      readonly name: string;
      readonly attrs: Attrs;
      readonly args: readonly number[];
      readonly out: number;
      /** Every output when the kernel writes several (a tuple in `out`); absent for one. */
      readonly outs?: readonly number[];
      readonly what: string;
    }
  | {
      readonly op: 'program';
      readonly name: string;
      readonly args: readonly number[];
      readonly out: number;
      readonly what: string;
    }
  | {
      readonly op: 'view';
      readonly dst: number;
      readonly src: number;
      readonly shape: readonly Sym[];
      readonly what: string;
    }
  | {
      readonly op: 'host';
      readonly name: string;
      readonly attrs: Attrs;
      readonly args: readonly number[];
      readonly out: number;
      readonly what: string;
    }
  | { readonly op: 'move'; readonly dst: number; readonly src: number }
  | { readonly op: 'tuple'; readonly dst: number; readonly srcs: readonly number[] }
  | { readonly op: 'get'; readonly dst: number; readonly src: number; readonly index: number }
  | { readonly op: 'shape'; readonly dst: number; readonly dims: readonly Sym[] };

export interface ExecFunc {
  readonly name: string;
  readonly params: readonly { readonly name: string; readonly type: Type }[];
  readonly instrs: readonly Instr[];
  readonly ret: number;
  readonly registers: number;
  readonly plan: MemoryPlan;
  readonly upper: Readonly<Record<string, number>>;
  /** Symbolic variables the function's types mention; empty means every step has fixed shapes (a recorded dispatch stream can replay it). */
  readonly symVars: readonly string[];
}

export interface CompiledProgram {
  readonly program: TensorProgram;
  readonly wgsl: WgslProgram;
  /** The same program as JavaScript, for backends with `runHostProgram`. */
  readonly js: JsProgram;
}

export interface Executable {
  readonly funcs: ReadonlyMap<string, ExecFunc>;
  readonly programs: ReadonlyMap<string, CompiledProgram>;
  /** Increments per `compile()` call in this process: tests use it to prove "compiled once". */
  readonly compileId: number;
}
