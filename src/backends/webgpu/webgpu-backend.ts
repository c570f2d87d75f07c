/**
 * The WebGPU backend: tensors in arena buffers, ops through the kernel library, dispatches batched
 * into one command encoder until `flush()`, optional recording into dispatch streams and
 * per-dispatch timestamps.
 */
import type { Attrs, Backend, Tensor, TensorDesc } from '../backend.js';
import { type HostArray, hostFromBytes, numel, paddedByteSize, bytesPerElement } from '../../tensor/dtype.js';
import { type GpuTensor, type KernelContext, prefixOf, viewOf } from './kernel.js';
import { GPU_KERNELS } from './kernel-registry.js';
import { BufferArena, type ArenaUsage } from './arena.js';
import type { Capabilities } from './capabilities.js';
import { type GpuContext, openGpu, type OpenOptions } from './device.js';
import { DispatchStream, StagingReadback } from './dispatch-stream.js';
import { declaredAccess } from './bindings.js';
import { DeviceHealth } from './device-health.js';
import { DispatchEncoder, STORAGE_USAGE } from './dispatch-encoder.js';
import { type DeviceLostError, LimitExceededError } from './errors.js';
import { PendingWork } from './pending-work.js';
import { type BindingAccess, PipelineCache } from './pipeline-cache.js';
import { StreamBindings } from './recording.js';
import { UniformRing } from './uniform-ring.js';
import { BindGroupCache } from './bind-group-cache.js';
import {
  EncodeMemo,
  StaleEncodingError,
  callKey,
  capturingContext,
  dryContext,
  encodingDifference,
} from './encode-memo.js';
import { KernelChoice } from './kernel-choice.js';
import { type ProfileEntry, TimestampProfiler } from './profiler.js';
import { STAGING_CHUNK_BYTES, StagingUploader } from './staging-upload.js';
import { copyToHost } from './host-read.js';
import { QueueTimeline, unrecordedWork } from './queue-timeline.js';

export interface WebGpuBackendOptions extends OpenOptions {
  /** Bytes of the uniform ring of unrecorded dispatches (default 256 KiB; tests make it small to force wraps). */
  uniformRingBytes?: number;
  /** Bytes the arena may hold (default: 90% of the largest buffer the device allows times four, i.e. effectively the device). */
  memoryBudget?: number;
  /** Bytes of freed buffers kept for reuse (default DEFAULT_IDLE_BYTES; 0 destroys every freed buffer). */
  idleBytes?: number;
  /**
   * How recorded dispatches bind their uniform buffer: through the dynamic-offset layout every
   * kernel has (default), or a plain binding of a second pipeline of the same shader. The two
   * exist for A/B runs of the recorded decode loop.
   */
  recordedUniforms?: 'dynamic' | 'static';
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly device: GPUDevice;
  readonly caps: Capabilities;
  readonly arena: BufferArena;
  readonly pipelines: PipelineCache;
  private readonly uniformRing: UniformRing;
  private readonly encoder: DispatchEncoder;
  /** Bind groups of unrecorded dispatches by layout and buffer identities. */
  readonly bindGroups: BindGroupCache;
  /** Each kernel call's dispatches by (attrs, types): repeated steps skip kernel choice and planning. */
  readonly encodeMemo = new EncodeMemo();
  private readonly kernels: KernelChoice;
  /** Binding access of each generated program, by its WGSL text. */
  private readonly programAccess = new Map<string, BindingAccess[]>();
  private readonly pending: PendingWork;
  private counter = 0;
  /** Staging buffers created outside the arena (see `buffersCreated`). */
  private createdOutsideArena = 0;
  private readonly streamBound = new StreamBindings();
  /** When submitted work is expected to finish, so host reads map just before (queue-timeline.ts). */
  private readonly timeline = new QueueTimeline();
  /** Each allocation's record, shared by its views: freeing a view and its source must free the buffer once (the free list may have reused it). */
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
      opts.idleBytes,
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
      (dispatches) => this.timeline.submitted(unrecordedWork(dispatches)),
    );
    this.arena.discard = (b) => this.pending.retire(b);
    this.bindGroups = new BindGroupCache(this.device);
    this.health = new DeviceHealth(ctx);
    this.lost = this.health.lost;
    this.kernels = new KernelChoice(this.caps, GPU_KERNELS);
    this.encoder = new DispatchEncoder(
      this.device,
      this.caps,
      this.arena,
      this.pipelines,
      ring,
      this.bindGroups,
      this.pending,
      opts.recordedUniforms === 'static',
    );
  }

  /** Dispatches enqueued since creation (tests use it to prove fusion and replay). */
  get dispatchCount(): number {
    return this.encoder.dispatchCount;
  }

  supportsOp(op: string, attrs: Attrs, inputs: readonly TensorDesc[]): boolean {
    return typeof this.kernels.pick(op, attrs, inputs) !== 'string';
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
    const buffer = this.arena.alloc(byteSize, owner, label, STORAGE_USAGE());
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
    // queue writes take whole words: an odd tail goes through a padded copy
    const words = bytes % 4 === 0 ? src : new Uint8Array(Math.ceil(bytes / 4) * 4);
    if (words !== src) words.set(src);
    this.device.queue.writeBuffer(g.buffer, 0, words);
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
      this.timeline,
    );
    return hostFromBytes(t.dtype, bytes, numel(t.shape));
  }

  view(t: Tensor, shape: readonly number[]): Tensor {
    return this.sharing(t, viewOf(this.own(t), shape));
  }

  subview(t: Tensor, desc: TensorDesc): Tensor {
    return this.sharing(t, prefixOf(this.own(t), desc));
  }

  /** `v`, a view of `t`, takes `t`'s allocation record: freeing either frees the buffer once. */
  private sharing(t: Tensor, v: GpuTensor): Tensor {
    const rec = this.allocations.get(t);
    if (rec) this.allocations.set(v, rec);
    return v;
  }

  run(op: string, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]): void {
    this.health.checkAlive();
    this.encoder.beginCall();
    const tensors = [...inputs, ...outputs].map((t) => this.own(t));
    const key = callKey(op, tensors);
    const known = this.encodeMemo.get(attrs, key);
    if (known && this.encodeMemo.toVerify(known)) {
      const dry = dryContext(this.caps, this.device, tensors);
      this.kernels
        .checked(op, attrs, inputs, outputs)
        .encode(dry.ctx, attrs, tensors.slice(0, inputs.length), tensors.slice(inputs.length));
      const why = encodingDifference(known, dry.finish());
      if (why) throw new StaleEncodingError(op, why);
    }
    if (known) {
      this.encoder.replayKept(known, tensors);
      return;
    }
    const kernel = this.kernels.checked(op, attrs, inputs, outputs);
    const capture = capturingContext(this.kernelContext(), tensors);
    kernel.encode(capture.ctx, attrs, tensors.slice(0, inputs.length), tensors.slice(inputs.length));
    this.encodeMemo.set(attrs, key, capture.finish());
  }

  /** Runs a generated WGSL program (the compiler's tensor programs) on explicit bindings. */
  runProgram(
    program: { wgsl: string; entryPoint: string; workgroups: [number, number, number]; name?: string },
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
        label: `program.${program.name ?? program.entryPoint}`,
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
    return this.encoder.kernelContext();
  }

  /** Every GPU buffer created since the backend opened: tests assert a steady decode loop adds none. */
  get buffersCreated(): number {
    return this.arena.created + this.createdOutsideArena + this.encoder.ownedUniformsCreated;
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
    return StagingReadback.create(this.device, bytes, label, this.timeline);
  }

  /** Scratch and uniform buffers held for work not yet submitted (tests check that it drains). */
  get transientBuffers(): number {
    return this.pending.heldBuffers;
  }

  /**
   * Whether dispatches are encoded and not yet submitted: a queue write or staged copy now would
   * submit them first (benches check that background uploads never cut another caller's work short).
   */
  get hasPendingWork(): boolean {
    return this.pending.encoded;
  }

  /** Submits encoded work without waiting for it; `releaseTransient` false keeps scratch and uniform buffers for work still to be encoded. */
  submitPending(releaseTransient = true): void {
    this.pending.submit(releaseTransient);
  }

  submit(): void {
    this.health.checkAlive();
    this.submitPending();
  }

  async flush(): Promise<void> {
    this.health.checkAlive();
    this.submitPending();
    await this.device.queue.onSubmittedWorkDone();
    this.timeline.settled();
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
    const recording = this.encoder.recordInto(body);
    return new DispatchStream(
      this.device,
      recording.dispatches,
      recording.owned,
      () => this.submitPending(),
      this.streamBound.hold(recording.bound, () => recording.scratch.release(recording.taken)),
      this.timeline,
    );
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
