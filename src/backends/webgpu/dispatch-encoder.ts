/**
 * Where dispatches go: into the pending command encoder (uniforms from the ring, bind groups
 * cached by buffer identity) or, while a stream is recorded, into that stream, which owns its
 * uniforms. Kept encodings (`encode-memo.ts`) replay through here too.
 */
import type { Capabilities } from './capabilities.js';
import type { BufferArena } from './arena.js';
import type { BindGroupCache } from './bind-group-cache.js';
import { ownedUniform, storageEntry, workgroupCounts } from './bindings.js';
import {
  type EncodedOp,
  type MemoDispatch,
  type ResolvedDispatch,
  replayEncoded,
  resolveBuffers,
} from './encode-memo.js';
import type { BufferRange, GpuTensor, KernelContext, ShaderSpec } from './kernel.js';
import type { PendingWork } from './pending-work.js';
import type { PipelineCache } from './pipeline-cache.js';
import { RecordedScratch, type Recording, recordingScratch } from './recording.js';
import { UniformRing } from './uniform-ring.js';

export const STORAGE_USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class DispatchEncoder {
  private recording: Recording | null = null;
  /** Dispatches enqueued since creation (tests use it to prove fusion and replay). */
  dispatchCount = 0;
  /** Uniform buffers made for recorded streams (outside the arena). */
  ownedUniformsCreated = 0;
  /** Kernel scratch every recorded stream shares (recording.ts). */
  readonly recordedScratch = new RecordedScratch();

  constructor(
    private readonly device: GPUDevice,
    private readonly caps: Capabilities,
    private readonly arena: BufferArena,
    private readonly pipelines: PipelineCache,
    private readonly uniformRing: UniformRing,
    private readonly bindGroups: BindGroupCache,
    private readonly pending: PendingWork,
    /** Recorded dispatches bind their own uniform buffer through a plain binding instead of a dynamic-offset one. */
    private readonly staticRecordedUniforms = false,
  ) {}

  /** The context kernels dispatch through. */
  kernelContext(): KernelContext {
    return {
      caps: this.caps,
      device: this.device,
      dispatch: (shader, buffers, uniforms, workgroups, when) =>
        this.dispatch(shader, buffers, uniforms, workgroups, when),
      scratch: (bytes, label) => {
        if (this.recording)
          return {
            buffer: recordingScratch(this.recording, bytes, label, () =>
              this.arena.scratch(bytes, label, STORAGE_USAGE()),
            ),
          };
        const buffer = this.arena.scratch(bytes, label, STORAGE_USAGE());
        this.pending.hold(buffer);
        return { buffer };
      },
    };
  }

  /** A kernel call begins: while recording, its scratch requests start a fresh count (recording.ts). */
  beginCall(): void {
    this.recording?.callScratch.clear();
  }

  /** Runs `body` with its dispatches recorded instead of encoded, and returns what it recorded. */
  recordInto(body: () => void): Recording {
    if (this.recording) throw new Error('dispatch streams do not nest');
    const recording: Recording = {
      dispatches: [],
      owned: [],
      bound: new Set(),
      scratch: this.recordedScratch,
      taken: new Set(),
      callScratch: new Map(),
    };
    this.recording = recording;
    try {
      body();
      return recording;
    } catch (e) {
      // a stream that failed to record is never replayed: what it owns would otherwise leak
      for (const b of recording.owned) b.destroy();
      this.recordedScratch.release(recording.taken);
      throw e;
    } finally {
      this.recording = null;
    }
  }

  /**
   * A kept encoding's dispatches on this call's tensors. Unrecorded, each dispatch reuses its
   * pipeline and, when handed the same buffers as last time (a repeated step), its bind group
   * without building a key: what is left per dispatch is its uniforms and three pass commands.
   */
  replayKept(e: EncodedOp, tensors: readonly GpuTensor[]): void {
    const ctx = this.kernelContext();
    // a recording owns its uniforms
    if (this.recording) {
      replayEncoded(ctx, e, tensors);
      return;
    }
    const scratch = e.scratch.map((s) => ctx.scratch(s.bytes, s.label));
    for (const d of e.dispatches) {
      const buffers = resolveBuffers(d, tensors, scratch);
      const r = this.resolved(d);
      if (r.counts.includes(0)) continue;
      if (d.when && !d.when()) continue;
      const offsets: number[] = [];
      if (this.sameBuffers(r, buffers)) {
        for (const a of d.shader.access)
          if (a === 'uniform') offsets.push(this.ringSlice(d.uniforms ?? new Uint32Array(4)));
      } else {
        r.group = this.bindGroups.get(r.layout, this.bindEntries(d.shader, buffers, d.uniforms, offsets));
        r.buffers = buffers.map((b) => b.buffer);
      }
      this.dispatchCount++;
      this.pending.encode(d.shader.label, r.pipeline, r.group!, r.counts, offsets);
    }
  }

  /** A kept dispatch's pipeline, layout and workgroup counts, looked up once and kept on it. */
  private resolved(d: MemoDispatch): ResolvedDispatch {
    let r = d.resolved;
    if (!r) {
      const { pipeline, layout } = this.pipelines.get(d.shader);
      const counts = workgroupCounts(d.shader.label, d.workgroups, this.caps.maxComputeWorkgroupsPerDimension);
      d.resolved = r = { pipeline, layout, counts, buffers: [], group: null };
    }
    // checked keys must see every lookup (tests)
    if (this.pipelines.verifyKeys && this.pipelines.get(d.shader).pipeline !== r.pipeline)
      throw new Error(`kernel '${d.shader.label}': its kept encoding's pipeline is no longer the cache's`);
    return r;
  }

  /** Whether the kept bind group binds exactly these buffers, so it can be reused as is. */
  private sameBuffers(r: ResolvedDispatch, buffers: readonly (GpuTensor | BufferRange)[]): boolean {
    let same = r.group !== null && r.buffers.length === buffers.length;
    for (let i = 0; same && i < buffers.length; i++) same = r.buffers[i] === buffers[i]!.buffer;
    return same;
  }

  dispatch(
    shader: ShaderSpec,
    buffers: readonly (GpuTensor | BufferRange)[],
    uniforms: Uint32Array | null,
    workgroups: readonly [number, number?, number?],
    when?: () => boolean,
  ): void {
    const plain = this.recording !== null && this.staticRecordedUniforms;
    const compiled = plain ? this.pipelines.getStaticUniforms(shader) : this.pipelines.get(shader);
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
        offsets: plain ? [] : offsets,
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
      offsets.push(this.ringSlice(words));
      return { binding, resource: this.uniformRing.binding(UniformRing.blockSize(words)) };
    }
    const ub = ownedUniform(this.device, words);
    this.ownedUniformsCreated++;
    recording.owned.push(ub);
    offsets.push(0);
    return { binding, resource: { buffer: ub } };
  }

  /**
   * The ring offset of `words`. A wrap submits the work encoded so far; the current dispatch's
   * scratch buffers, already made but not yet encoded, must outlive that submit, so transient
   * buffers stay until the next.
   */
  private ringSlice(words: Uint32Array): number {
    return this.uniformRing.slice(words, () => this.pending.submit(false));
  }
}
