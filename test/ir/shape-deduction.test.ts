import { describe, expect, it } from 'vitest';
import { FunctionBuilder } from '../../src/ir/builder.js';
import { op } from '../../src/ir/op.js';
import { type Type, rankOnly, tensorType, typeToString } from '../../src/ir/types.js';
import { deduceType } from '../../src/ir/infer.js';
import { mkVar } from '../../src/ir/graph.js';

const T = (shape: (string | number)[], dtype: 'f32' | 'i32' = 'f32') => mkVar('t', tensorType(dtype, shape));
const ty = (e: Parameters<typeof deduceType>[0]) => typeToString(deduceType(e) as Type);

describe('shape deduction', () => {
  it('broadcasts symbolically and falls back to rank-only when unknowable', () => {
    expect(ty(op.add(T(['n', 1, 4]), T([3, 1])))).toBe('Tensor((n, 3, 4), f32)');
    expect(ty(op.multiply(T(['n', 'd']), T(['d'])))).toBe('Tensor((n, d), f32)');
    expect(ty(op.add(T(['n']), T(['m'])))).toBe('Tensor(ndim=1, f32)');
    expect(() => deduceType(op.add(T([3]), T([4])))).toThrow(/broadcast 3 with 4/);
    expect(() => deduceType(op.add(T([3]), T([3], 'i32')))).toThrow(/dtypes differ/);
  });

  it('deduces unary, scale and cast', () => {
    expect(ty(op.silu(T(['n', 8])))).toBe('Tensor((n, 8), f32)');
    expect(ty(op.cast(T(['n']), 'f16'))).toBe('Tensor((n,), f16)');
  });

  it('deduces matmul with transposition and batch broadcasting', () => {
    expect(ty(op.matmul(T(['n', 64]), T([64, 32])))).toBe('Tensor((n, 32), f32)');
    expect(ty(op.matmul(T(['n', 64]), T([32, 64]), { transB: true }))).toBe('Tensor((n, 32), f32)');
    expect(ty(op.matmul(T(['b', 'n', 'k']), T(['k', 'm'])))).toBe('Tensor((b, n, m), f32)');
    expect(() => deduceType(op.matmul(T(['n', 64]), T([63, 32])))).toThrow(/reduction dimensions differ/);
    expect(ty(op.matmul(T(['n', 'k']), T(['j', 8])))).toBe('Tensor(ndim=2, f32)');
  });

  it('deduces reshape with an inferred axis, permute, concat and slice', () => {
    expect(ty(op.reshape(T(['n', 4096]), ['n', 32, -1]))).toBe('Tensor((n, 32, 128), f32)');
    expect(ty(op.reshape(T(['n', 'h', 'd']), ['n', -1]))).toBe('Tensor((n, d*h), f32)');
    expect(() => deduceType(op.reshape(T(['n', 6]), ['n', 4]))).toThrow(/cannot reshape/);
    expect(ty(op.permuteDims(T(['n', 4, 'd']), [2, 0, 1]))).toBe('Tensor((d, n, 4), f32)');
    expect(ty(op.concat([T(['n', 4]), T(['n', 'm'])], 1))).toBe('Tensor((n, m + 4), f32)');
    expect(ty(op.concat([T(['n', 4]), T(['m', 4])], 1))).toBe('Tensor(ndim=2, f32)');
    expect(ty(op.slice(T(['n', 10]), 1, 2, 7))).toBe('Tensor((n, 5), f32)');
    expect(() => deduceType(op.slice(T(['n', 10]), 1, 2, 11))).toThrow(/cannot prove/);
  });

  it('deduces reductions', () => {
    expect(ty(op.sum(T(['n', 'c']), [1]))).toBe('Tensor((n,), f32)');
    expect(ty(op.mean(T(['n', 'c']), [-1], true))).toBe('Tensor((n, 1), f32)');
    expect(ty(op.max(T(['n', 'c', 3])))).toBe('Tensor((), f32)');
  });

  it('deduces the neural-network ops', () => {
    expect(ty(op.rmsNorm(T(['n', 64]), T([64])))).toBe('Tensor((n, 64), f32)');
    expect(() => deduceType(op.rmsNorm(T(['n', 64]), T([32])))).toThrow(/weight length/);
    expect(ty(op.rope(T(['n', 4, 16]), T(['n'], 'i32')))).toBe('Tensor((n, 4, 16), f32)');
    expect(ty(op.attention(T(['n', 8, 16]), T(['s', 2, 16]), T(['s', 2, 16]), { causal: true }))).toBe(
      'Tensor((n, 8, 16), f32)',
    );
    expect(() => deduceType(op.attention(T(['n', 6, 16]), T(['s', 4, 16]), T(['s', 4, 16]), { causal: true }))).toThrow(
      /multiple/,
    );
    expect(ty(op.embedding(T([100, 32]), T(['n'], 'i32')))).toBe('Tensor((n, 32), f32)');
    expect(ty(op.argmax(T(['n', 100])))).toBe('Tensor((n,), i32)');
    expect(ty(op.arange('n'))).toBe('Tensor((n,), i32)');
    expect(ty(op.add(mkVar('r', rankOnly('f32', 2)), T(['n', 3])))).toBe('Tensor(ndim=2, f32)');
  });

  it('names function and binding in builder errors', () => {
    const b = new FunctionBuilder('main');
    const x = b.param('x', tensorType('f32', ['n', 4]));
    const w = b.param('w', tensorType('f32', [3, 2]));
    expect(() => b.emit(op.matmul(x, w), 'bad')).toThrow(/function 'main', binding 'bad': matmul/);
  });
});
