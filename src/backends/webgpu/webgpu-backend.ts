/**
 * The WebGPU backend: tensors in arena buffers, ops through the kernel library, dispatches batched
 * into one command encoder until `flush()`, optional recording into dispatch streams and
 * per-dispatch timestamps.
 */
import { type Attrs, type Backend, type Tensor, type TensorDesc, UnsupportedOpError, assertShape } from '../backend.js';
import { type HostArray, hostFromBytes, numel, paddedByteSize, bytesPerElement } from '../../tensor/dtype.js';
import { getOp } from '../../ops/registry.js';
import {
  type BufferRange,
  type GpuKernel,
  type GpuTensor,
  type KernelContext,
  type ShaderSpec,
  viewOf,
} from './kernel.js';
import { GPU_KERNELS } from './kernel-registry.js';
import { BufferArena, type ArenaUsage } from './arena.js';
import type { Capabilities } from './capabilities.js';
import { type GpuContext, openGpu, type OpenOptions } from './device.js';
import { DispatchStream, StagingReadback } from './dispatch-stream.js';
import { declaredAccess, ownedUniform, storageEntry, workgroupCounts } from './bindings.js';
import { DeviceHealth } from './device-health.js';
import { type DeviceLostError, LimitExceededError } from './errors.js';
import { PendingWork } from './pending-work.js';
import { type BindingAccess, PipelineCache } from './pipeline-cache.js';
import { type Recording, StreamBindings, recordingScratch } from './recording.js';
import { UniformRing } from './uniform-ring.js';
import { BindGroupCache } from './bind-group-cache.js';
import {
  EncodeMemo,
  StaleEncodingError,
  callKey,
  capturingContext,
  dryContext,
  type EncodedOp,
  encodingDifference,
  replayEncoded,
  resolveBuffers,
} from './encode-memo.js';
import { type ProfileEntry, TimestampProfiler } from './profiler.js';
import { STAGING_CHUNK_BYTES, StagingUploader } from './staging-upload.js';
import { copyToHost } from './host-read.js';

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export interface WebGpuBackendOptions extends OpenOptions {
  /** Bytes of the uniform ring of unrecorded dispatches (default 256 KiB; tests make it small to force wraps). */
  uniformRingBytes?: number;
  /** Bytes the arena may hold (default: 90% of the largest buffer the device allows times four, i.e. effectively the device). */
  memoryBudget?: number;
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly device: GPUDevice;
  readonly caps: Capabilities;
  readonly arena: BufferArena;
  readonly pipelines: PipelineCache;
  private readonly uniformRing: UniformRing;
  /** Bind groups of unrecorded dispatches by layout and buffer identities. */
  readonly bindGroups: BindGroupCache;
  /** Each kernel call's dispatches by (attrs, types): repeated steps skip kernel choice and planning. */
  readonly encodeMemo = new EncodeMemo();
  private readonly kernels = new Map<string, GpuKernel[]>();
  /** Binding access of each generated program, by its WGSL text. */
  private readonly programAccess = new Map<string, BindingAccess[]>();
  private readonly pending: PendingWork;
  private recording: Recording | null = null;
  private counter = 0;
  /** Dispatches enqueued since creation (tests use it to prove fusion and replay). */
  dispatchCount = 0;
  /** Scratch, uniform and staging buffers created outside the arena (see `buffersCreated`). */
  private createdOutsideArena = 0;
  private readonly streamBound = new StreamBindings();
  /**
   * Each allocation's record, shared by its views: freeing a view and then its source must not
   * free the buffer twice, since by then the free list may have handed it to another tensor.
   */
  private readonly allocations = new WeakMap<Tensor, { freed: boolean }>();
  private readonly health: DeviceHealth;
  /** Resolves once the device is lost (see DeviceHealth). */
  readonly lost: Promise<DeviceLostError>;

  static async create(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    return new WebGpuBackend(await openGpu(opts), opts);
  }

  constructor(
    readonly ctx: GpuContext,
    opts: WebGpuBackendOptions = {},
  ) {
    this.device = ctx.device;
    this.caps = ctx.caps;
    this.arena = new BufferArena(
      this.device,
      opts.memoryBudget ?? Number.MAX_SAFE_INTEGER,
      undefined,
      this.caps.maxStorageBufferBindingSize,
    );
    this.pipelines = new PipelineCache(this.device);
    this.uniformRing = new UniformRing(
      this.device,
      this.device.limits.minUniformBufferOffsetAlignment,
      opts.uniformRingBytes,
    );
    const ring = this.uniformRing;
    this.pending = new PendingWork(
      this.device,
      () => ring.flush(),
      (b) => this.arena.recycle(b),
    );
    this.arena.discard = (b) => this.pending.retire(b);
    this.bindGroups = new BindGroupCache(this.device);
    this.health = new DeviceHealth(ctx);
    this.lost = this.health.lost;
    for (const k of GPU_KERNELS) {
      const list = this.kernels.get(k.op) ?? [];
      list.push(k);
      this.kernels.set(k.op, list);
    }
  }

  private pick(op: string, attrs: Attrs, inputs: readonly TensorDesc[]): GpuKernel | string {
    const list = this.kernels.get(op);
    if (!list) return 'no WebGPU kernel for this op';
    const reasons: string[] = [];
    for (const k of list) {
      const why = k.whyUnsupported(this.caps, attrs, inputs);
      if (why === null) return k;
      reasons.push(why);
    }
    return reasons.join('; ');
  }

  supportsOp(op: string, attrs: Attrs, inputs: readonly TensorDesc[]): boolean {
    return typeof this.pick(op, attrs, inputs) !== 'string';
  }

  alloc(desc: TensorDesc, label = `t${this.counter++}`, owner = 'tensors'): Tensor {
    this.health.checkAlive();
    const byteSize = paddedByteSize(desc.dtype, desc.shape);
    if (byteSize > this.caps.maxBufferSize)
      throw new LimitExceededError(
        `tensor '${label}' (${byteSize} bytes)`,
        byteSize,
        this.caps.maxBufferSize,
        'maxBufferSize',
      );
    const buffer = this.arena.alloc(byteSize, owner, label, STORAGE());
    const t: GpuTensor = { dtype: desc.dtype, shape: [...desc.shape], backend: 'webgpu', label, buffer, byteSize };
    this.allocations.set(t, { freed: false });
    return t;
  }

  write(t: Tensor, data: HostArray): void {
    const g = this.own(t);
    const n = numel(t.shape);
    if (data.length !== n) throw new Error(`write to '${t.label}': ${data.length} elements for a tensor of ${n}`);
    // queue writes are ordered after submitted work only: submit what is pending first
    this.submitPending();
    const bytes = n * bytesPerElement(t.dtype);
    const src = new Uint8Array(data.buffer, data.byteOffset, bytes);
    if (bytes % 4 === 0) this.device.queue.writeBuffer(g.buffer, 0, src);
    else {
      const padded = new Uint8Array(Math.ceil(bytes / 4) * 4);
      padded.set(src);
      this.device.queue.writeBuffer(g.buffer, 0, padded);
    }
  }

  writeAt(t: Tensor, offset: number, data: HostArray): void {
    const g = this.own(t);
    const n = numel(t.shape);
    if (offset < 0 || offset + data.length > n)
      throw new Error(`write to '${t.label}': elements [${offset}, ${offset + data.length}) outside its ${n}`);
    const es = bytesPerElement(t.dtype);
    const at = offset * es;
    const bytes = data.length * es;
    if (at % 4 !== 0 || bytes % 4 !== 0)
      throw new Error(`write to '${t.label}': bytes [${at}, ${at + bytes}) are not 4-byte aligned`);
    this.submitPending();
    this.device.queue.writeBuffer(g.buffer, at, new Uint8Array(data.buffer, data.byteOffset, bytes));
  }

  async read(t: Tensor): Promise<HostArray> {
    const g = this.own(t);
    this.submitPending();
    const usage = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
    const bytes = await copyToHost(
      this.device,
      g.buffer,
      g.byteSize,
      () => this.checkErrors(),
      (n) => this.arena.scratch(n, `read.${t.label}`, usage),
      (staging) => this.arena.recycle(staging),
    );
    return hostFromBytes(t.dtype, bytes, numel(t.shape));
  }

  view(t: Tensor, shape: readonly number[]): Tensor {
    const v = viewOf(this.own(t), shape);
    const rec = this.allocations.get(t);
    if (rec) this.allocations.set(v, rec);
    return v;
  }

  run(op: string, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]): void {
    this.health.checkAlive();
    this.recording?.callScratch.clear();
    const tensors = [...inputs, ...outputs].map((t) => this.own(t));
    const key = callKey(op, tensors);
    const known = this.encodeMemo.get(attrs, key);
    if (known && this.encodeMemo.toVerify(known)) {
      const dry = dryContext(this.caps, this.device, tensors);
      this.pickChecked(op, attrs, inputs, outputs).encode(
        dry.ctx,
        attrs,
        tensors.slice(0, inputs.length),
        tensors.slice(inputs.length),
      );
      const why = encodingDifference(known, dry.finish());
      if (why) throw new StaleEncodingError(op, why);
    }
    if (known) {
      this.replayKept(known, tensors);
      return;
    }
    const kernel = this.pickChecked(op, attrs, inputs, outputs);
    const capture = capturingContext(this.kernelContext(), tensors);
    kernel.encode(capture.ctx, attrs, tensors.slice(0, inputs.length), tensors.slice(inputs.length));
    this.encodeMemo.set(attrs, key, capture.finish());
  }

  /**
   * A kept encoding's dispatches on this call's tensors. Unrecorded, each dispatch reuses its
   * pipeline and, when handed the same buffers as last time (a repeated step), its bind group
   * without building a key: what is left per dispatch is its uniforms and three pass commands.
   */
  private replayKept(e: EncodedOp, tensors: readonly GpuTensor[]): void {
    const ctx = this.kernelContext();
    // a recording owns its uniforms
    if (this.recording) {
      replayEncoded(ctx, e, tensors);
      return;
    }
    const scratch = e.scratch.map((s) => ctx.scratch(s.bytes, s.label));
    for (const d of e.dispatches) {
      const buffers = resolveBuffers(d, tensors, scratch);
      let r = d.resolved;
      if (!r) {
        const { pipeline, layout } = this.pipelines.get(d.shader);
        const max = this.caps.maxComputeWorkgroupsPerDimension;
        const counts = workgroupCounts(d.shader.label, d.workgroups, max);
        d.resolved = r = { pipeline, layout, counts, buffers: [], group: null };
      }
      // checked keys must see every lookup (tests)
      if (this.pipelines.verifyKeys && this.pipelines.get(d.shader).pipeline !== r.pipeline)
        throw new Error(`kernel '${d.shader.label}': its kept encoding's pipeline is no longer the cache's`);
      if (r.counts.includes(0)) continue;
      if (d.when && !d.when()) continue;
      const offsets: number[] = [];
      let same = r.group !== null && r.buffers.length === buffers.length;
      for (let i = 0; same && i < buffers.length; i++) same = r.buffers[i] === buffers[i]!.buffer;
      if (same) {
        for (const a of d.shader.access)
          if (a === 'uniform')
            offsets.push(this.uniformRing.slice(d.uniforms ?? new Uint32Array(4), () => this.submitPending(false)));
      } else {
        r.group = this.bindGroups.get(r.layout, this.bindEntries(d.shader, buffers, d.uniforms, offsets));
        r.buffers = buffers.map((b) => b.buffer);
      }
      this.dispatchCount++;
      this.pending.encode(d.shader.label, r.pipeline, r.group!, r.counts, offsets);
    }
  }

  /** The kernel that runs `op` here, after checking the outputs' types against the op's inference. */
  private pickChecked(op: string, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]): GpuKernel {
    const kernel = this.pick(op, attrs, inputs);
    if (typeof kernel === 'string') throw new UnsupportedOpError('webgpu', op, kernel);
    const outDescs = getOp(op).outputs(attrs, inputs);
    if (outDescs.length !== outputs.length)
      throw new Error(`${op}: ${outputs.length} outputs given, ${outDescs.length} expected`);
    outDescs.forEach((d, i) => assertShape(op, `output ${i}`, outputs[i]!, d.shape, d.dtype));
    return kernel;
  }

  /** Runs a generated WGSL program (the compiler's tensor programs) on explicit bindings. */
  runProgram(
    program: { wgsl: string; entryPoint: string; workgroups: [number, number, number] },
    bindings: readonly Tensor[],
    uniforms: Uint32Array,
  ): void {
    // a program's text is one string for its whole life: as a key it is hashed once, not per dispatch
    let access = this.programAccess.get(program.wgsl);
    if (access?.length !== bindings.length + 1) {
      access = declaredAccess(program.wgsl, bindings.length);
      this.programAccess.set(program.wgsl, access);
    }
    this.kernelContext().dispatch(
      {
        label: `program.${program.entryPoint}`,
        key: program.wgsl,
        wgsl: program.wgsl,
        access,
        entryPoint: program.entryPoint,
      },
      bindings.map((t) => this.own(t)),
      uniforms,
      program.workgroups,
    );
  }

  /** The context kernels dispatch through; also for code that runs its own shaders (`measure.ts`, benches). */
  kernelContext(): KernelContext {
    return {
      caps: this.caps,
      device: this.device,
      dispatch: (shader, buffers, uniforms, workgroups, when) =>
        this.dispatch(shader, buffers, uniforms, workgroups, when),
      scratch: (bytes, label) => {
        if (this.recording)
          return {
            buffer: recordingScratch(this.recording, bytes, label, () => this.arena.scratch(bytes, label, STORAGE())),
          };
        const buffer = this.arena.scratch(bytes, label, STORAGE());
        this.pending.hold(buffer);
        return { buffer };
      },
    };
  }

  private dispatch(
    shader: ShaderSpec,
    buffers: readonly (GpuTensor | BufferRange)[],
    uniforms: Uint32Array | null,
    workgroups: readonly [number, number?, number?],
    when?: () => boolean,
  ): void {
    const compiled = this.pipelines.get(shader);
    const counts = workgroupCounts(shader.label, workgroups, this.caps.maxComputeWorkgroupsPerDimension);
    if (counts.includes(0)) return;
    // a recording keeps a conditional dispatch and asks again at each replay
    if (when && !this.recording && !when()) return;
    const offsets: number[] = [];
    const entries = this.bindEntries(shader, buffers, uniforms, offsets);
    this.dispatchCount++;
    if (this.recording) {
      this.recording.dispatches.push({
        label: shader.label,
        pipeline: compiled.pipeline,
        bindGroup: this.device.createBindGroup({ layout: compiled.layout, entries }),
        workgroups: counts,
        offsets,
        ...(when ? { when } : {}),
      });
      return;
    }
    this.pending.encode(
      shader.label,
      compiled.pipeline,
      this.bindGroups.get(compiled.layout, entries),
      counts,
      offsets,
    );
  }

  /**
   * The dispatch's bind-group entries in binding order: storage buffers as given, uniforms from the
   * ring (their slice's dynamic offset pushed to `offsets`) or, while recording, owned at offset 0.
   */
  private bindEntries(
    shader: ShaderSpec,
    buffers: readonly (GpuTensor | BufferRange)[],
    uniforms: Uint32Array | null,
    offsets: number[],
  ): GPUBindGroupEntry[] {
    const entries: GPUBindGroupEntry[] = [];
    const seen = new Map<GPUBuffer, number>();
    let bi = 0;
    shader.access.forEach((a, binding) => {
      if (a === 'uniform') {
        entries.push(this.uniformEntry(binding, uniforms ?? new Uint32Array(4), offsets));
        return;
      }
      const b = buffers[bi++];
      if (!b) throw new Error(`kernel '${shader.label}' declares more storage bindings than it was given buffers`);
      const entry = storageEntry(shader, binding, b, seen, this.caps.maxStorageBufferBindingSize);
      this.recording?.bound.add(b.buffer);
      entries.push(entry);
    });
    return entries;
  }

  private uniformEntry(binding: number, words: Uint32Array, offsets: number[]): GPUBindGroupEntry {
    const recording = this.recording;
    if (!recording) {
      // a wrap submits the work encoded so far; the current dispatch's scratch buffers, already
      // made but not yet encoded, must outlive that submit, so transient buffers stay until the next
      offsets.push(this.uniformRing.slice(words, () => this.submitPending(false)));
      return { binding, resource: this.uniformRing.binding(UniformRing.blockSize(words)) };
    }
    const ub = ownedUniform(this.device, words);
    this.createdOutsideArena++;
    recording.owned.push(ub);
    offsets.push(0);
    return { binding, resource: { buffer: ub } };
  }

  /** Every GPU buffer created since the backend opened: tests assert a steady decode loop adds none. */
  get buffersCreated(): number {
    return this.arena.created + this.createdOutsideArena;
  }

  createUploader(largestBytes = Number.POSITIVE_INFINITY): StagingUploader {
    this.health.checkAlive();
    this.createdOutsideArena++;
    const chunk = Math.min(STAGING_CHUNK_BYTES, Math.ceil(largestBytes / 4) * 4);
    return new StagingUploader(
      this.device,
      (t) => this.own(t),
      () => this.submitPending(),
      chunk,
    );
  }

  /** A host-readable buffer that replays copy tensors into; the caller owns (and destroys) it. */
  createReadback(bytes: number, label = 'readback'): StagingReadback {
    this.createdOutsideArena++;
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    return new StagingReadback(
      this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label }),
      size,
    );
  }

  /** Scratch and uniform buffers held for work not yet submitted (tests check that it drains). */
  get transientBuffers(): number {
    return this.pending.heldBuffers;
  }

  /** Submits encoded work without waiting for it; `releaseTransient` false keeps scratch and uniform buffers for work still to be encoded. */
  submitPending(releaseTransient = true): void {
    this.pending.submit(releaseTransient);
  }

  async flush(): Promise<void> {
    this.health.checkAlive();
    this.submitPending();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  private async checkErrors(): Promise<void> {
    // taken first: when a shader failed to compile or memory ran out, the uncaptured errors that
    // follow (invalid pipeline, invalid command buffer) are its consequences, not news
    const errors = this.health.takeUncaptured();
    await this.pipelines.checkErrors();
    await this.arena.checkErrors();
    this.health.raise(errors);
  }

  /** Records the dispatches `body` enqueues instead of running them; replay the result each step. */
  record(body: () => void): DispatchStream {
    if (this.recording) throw new Error('dispatch streams do not nest');
    this.recording = { dispatches: [], owned: [], bound: new Set(), scratch: new Map(), callScratch: new Map() };
    try {
      body();
      const release = this.streamBound.hold(this.recording.bound);
      return new DispatchStream(
        this.device,
        this.recording.dispatches,
        this.recording.owned,
        () => this.submitPending(),
        release,
      );
    } finally {
      this.recording = null;
    }
  }

  /** Turns per-dispatch GPU timestamps on (when the device has them). */
  startProfiling(): boolean {
    if (!this.caps.timestampQuery) return false;
    this.submitPending();
    this.pending.profiler ??= new TimestampProfiler(this.device);
    return true;
  }

  async stopProfiling(): Promise<ProfileEntry[]> {
    const profiler = this.pending.profiler;
    if (!profiler) return [];
    await this.flush();
    const entries = await profiler.collect();
    profiler.destroy();
    this.pending.profiler = null;
    return entries;
  }

  memory(): ArenaUsage {
    return this.arena.usage();
  }

  free(t: Tensor): void {
    const g = t as GpuTensor;
    if (g.backend === 'webgpu' && g.buffer) {
      // a recorded stream would fail at its next replay, far from this call: fail here instead
      if (this.streamBound.has(g.buffer))
        throw new Error(`free of '${t.label}' while a recorded dispatch stream binds it: destroy the stream first`);
      const rec = this.allocations.get(t);
      if (rec?.freed) {
        (g as { buffer?: GPUBuffer }).buffer = undefined;
        return;
      }
      if (rec) rec.freed = true;
      // the buffer joins the free list: work encoded later, in this command buffer or after, runs
      // after the work already encoded that binds it (dispatches run in order, queue writes and
      // reads submit pending work first), and a buffer the list destroys waits for the next submit
      this.arena.free(g.buffer);
      (g as { buffer?: GPUBuffer }).buffer = undefined;
    }
  }

  destroy(): void {
    this.health.destroying();
    this.submitPending();
    this.pending.profiler?.destroy();
    this.uniformRing.destroy();
    this.arena.trimIdle();
    this.device.destroy();
  }

  private own(t: Tensor): GpuTensor {
    const g = t as GpuTensor;
    if (t.backend !== 'webgpu' || !g.buffer) throw new Error(`tensor '${t.label}' is not a WebGPU tensor`);
    return g;
  }
}
