/**
 * Vitest setup file of scripts/seeded-faults.mjs: when TESSERA_FAULT names a fault, every WGSL
 * shader is rewritten by that fault's patterns just before the pipeline cache compiles it, so the
 * tests exercise the real generators, plan, page table and dispatch with one deliberate bug in the
 * shader. Each shader the fault changed is appended to TESSERA_FAULT_LOG, which proves the fault
 * reached the GPU (a fault that matches nothing would be "caught" by nothing and mean nothing).
 * Without TESSERA_FAULT this file is never loaded: src/ has no fault hooks.
 */
import { appendFileSync } from 'node:fs';
import { PipelineCache } from '../src/backends/webgpu/pipeline-cache.js';
import { seededFaults } from './seeded-faults.patterns.mjs';

const name = process.env.TESSERA_FAULT;
const fault = seededFaults.find((f) => f.name === name);
if (name && !fault)
  throw new Error(`unknown TESSERA_FAULT '${name}'; known: ${seededFaults.map((f) => f.name).join(', ')}`);

if (fault) {
  const original = PipelineCache.prototype.get;
  /** @this {PipelineCache} */
  PipelineCache.prototype.get = function (label, wgsl, access, entryPoint) {
    let patched = wgsl;
    for (const [pattern, replacement] of fault.rewrites) patched = patched.replace(pattern, replacement);
    if (patched !== wgsl && process.env.TESSERA_FAULT_LOG) appendFileSync(process.env.TESSERA_FAULT_LOG, `${label}\n`);
    return original.call(this, label, patched, access, entryPoint);
  };
}
