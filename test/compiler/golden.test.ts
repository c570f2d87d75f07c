/** Golden text of fusion and memory planning on small graphs: a change here is a visible change in what the compiler does. */
import { describe, expect, it } from 'vitest';
import { compileModule } from '../../src/compiler/compile.js';
import { FunctionBuilder } from '../../src/ir/builder.js';
import { moduleOf } from '../../src/ir/graph.js';
import { op } from '../../src/ir/op.js';
import { printModule } from '../../src/ir/printer.js';
import { printPlan } from '../../src/compiler/passes/plan-memory.js';
import { tensorType } from '../../src/ir/types.js';

function graph() {
  const b = new FunctionBuilder('main', { upper: { n: 1024 } });
  const x = b.param('x', tensorType('f32', ['n', 8]));
  const w = b.param('w', tensorType('f32', [8, 8]));
  const bias = b.param('bias', tensorType('f32', [8]));
  const out = b.dataflow(() => {
    const h = b.emit(op.exp(op.add(op.matmul(x, w), bias)), 'h');
    const c = b.emit(op.tanh(op.scale(op.add(x, bias), 0.5)), 'c');
    const s = b.emit(op.sqrt(op.mean(op.multiply(c, h), [1])), 's');
    const y = b.emit(op.reshape(op.relu(op.concat([op.slice(h, 1, 0, 4), op.slice(c, 1, 4, 8)], 1)), [-1]), 'y');
    return { k: 'tuple' as const, fields: [y, s] };
  });
  return moduleOf([b.finish(out)]);
}

describe('golden text', () => {
  it('fusion: epilogue into the GEMM, elementwise chains inlined, reduction tail as epilogue', () => {
    const { module } = compileModule(graph());
    expect(printModule(module)).toBe(GOLDEN_FUSED);
  });

  it('memory planning: storage reused across disjoint lifetimes, constant capacities from {n: 1024}', () => {
    const { plans } = compileModule(graph(), { fuse: false });
    expect(printPlan(plans.get('main')!)).toBe(GOLDEN_PLAN);
  });
});

const GOLDEN_FUSED = `prim @fused_add_scale_tanh(x0: Buffer((n, 8), f32), x1: Buffer((8,), f32)) -> out: Buffer((n, 8), f32) elementwise schedule(workgroupSize=256, elemsPerThread=1, reduction=thread) {
  for i0 < n, i1 < 8 {
    out[i0, i1] = tanh(((x0[i0, i1] + x1[i1]) * 0.5))
  }
}

prim @fused_multiply_mean_sqrt(x0: Buffer((n, 8), f32), x1: Buffer((n, 8), f32)) -> out: Buffer((n,), f32) reduction schedule(workgroupSize=64, elemsPerThread=1, reduction=thread) {
  for i0 < n {
    acc = sum for r0 < 8 { (x0[i0, r0] * x1[i0, r0]) }
    out[i0] = sqrt((acc / 8))
  }
}

prim @fused_slice_concat_relu(x0: Buffer((n, 8), f32), x1: Buffer((n, 8), f32)) -> out: Buffer((n, 8), f32) elementwise schedule(workgroupSize=256, elemsPerThread=1, reduction=thread) {
  for i0 < n, i1 < 8 {
    out[i0, i1] = relu(select((i1 < 4), x0[i0, i1], x1[i0, i1]))
  }
}

fn @main(x: Tensor((n, 8), f32), w: Tensor((8, 8), f32), bias: Tensor((8,), f32)) upper(n=1024) {
  dataflow {
    h: Tensor((n, 8), f32) = call_kernel("matmul", x, w, bias) {"epilogue":"exp((x0 + x1))"}
    c: Tensor((n, 8), f32) = call_tir(@fused_add_scale_tanh, x, bias)
    s: Tensor((n,), f32) = call_tir(@fused_multiply_mean_sqrt, c, h)
    lv9: Tensor((n, 8), f32) = call_tir(@fused_slice_concat_relu, h, c)
    y: Tensor((8*n,), f32) = call_host("view", lv9)
  }
  return (y, s)
}
`;

// unfused: lv0 = matmul, lv1 = add(bias), h = exp; lv2 = add, lv3 = scale, c = tanh; lv4 = multiply,
// lv5 = mean (n × 4 bytes), s = sqrt; lv6/lv7 = slices, lv8 = concat, lv9 = relu, y = reshape
const GOLDEN_PLAN = `plan @main: 4 storage token(s), 102400 bytes at the upper bounds
  storage 0: 32768 bytes <- lv0, h, lv7
  storage 1: 32768 bytes <- lv1, lv2, c, lv8
  storage 2: 32768 bytes <- lv3, lv4, lv6
  storage 3: 4096 bytes <- lv5
  returned (caller-owned): lv9, s
`;

describe('argument de-duplication', () => {
  it('reads a tensor passed twice through one buffer (WebGPU forbids aliased writable bindings)', () => {
    const b = new FunctionBuilder('main');
    const x = b.param('x', tensorType('f32', ['n']));
    const { module } = compileModule(moduleOf([b.finish(b.dataflow(() => b.emit(op.maximum(x, x), 'y')))]));
    expect(printModule(module)).toContain('out[i0] = max(x0[i0], x0[i0])');
    expect(printModule(module)).toContain('y: Tensor((n,), f32) = call_tir(@maximum, x)');
  });
});
