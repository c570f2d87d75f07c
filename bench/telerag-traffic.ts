/**
 * What a request asks of the GPU queue, counted for the RAG pipeline bench: every queue submit of
 * the device (the LLM's steps and retrieval's alike), and retrieval's own traffic through the
 * backend its cluster cache holds (cluster and query uploads, `ivf_scan` dispatches, readbacks:
 * each readback is one map round trip).
 *
 * Lookahead must leave the LLM's work as it was. An upload made while another caller's dispatches
 * are encoded and not yet submitted would submit them early, splitting that work in two (a queue
 * write and a staged copy both submit pending work first): `splits` counts the uploads that found
 * work pending, which must stay 0. (Comparing submit counts between runs cannot show it: the
 * uniform ring submits whenever it wraps, and retrieval's dispatches move where it wraps.)
 */
import type { Backend, Uploader } from '../src/backends/backend.js';
import type { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';

export interface Traffic {
  /** Queue submits of the whole device; null where the queue could not be instrumented. */
  submits: number | null;
  /** Retrieval's queue writes (cluster and query uploads), dispatches and readbacks. */
  ragWrites: number;
  ragRuns: number;
  ragReads: number;
  /** Retrieval's uploads that found another caller's dispatches encoded and not submitted. */
  splits: number;
}

export interface TrafficCounter {
  /** The backend retrieval is given: `backend` with its writes, runs and reads counted. */
  readonly rag: Backend;
  snapshot(): Traffic;
  /** Stops counting the device's submits (the queue's own `submit` back). */
  restore(): void;
}

export function countTraffic(backend: WebGpuBackend): TrafficCounter {
  const t: Traffic = { submits: null, ragWrites: 0, ragRuns: 0, ragReads: 0, splits: 0 };
  const queue = backend.device.queue;
  const submit = queue.submit.bind(queue);
  try {
    queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
      t.submits = (t.submits ?? 0) + 1;
      submit(buffers);
    };
    t.submits = 0;
  } catch {
    t.submits = null;
  }
  const counted: Partial<Record<keyof Backend, keyof Traffic>> = {
    write: 'ragWrites',
    writeAt: 'ragWrites',
    run: 'ragRuns',
    read: 'ragReads',
  };
  const noteSplit = () => {
    if (backend.hasPendingWork) t.splits++;
  };
  // a staged copy submits pending work right after its chunk is filled
  const staging = (u: Uploader): Uploader => ({
    upload: (tensor, bytes, fill) =>
      u.upload(tensor, bytes, async (target, offset) => {
        const pendingBefore = backend.hasPendingWork;
        await fill(target, offset);
        if (pendingBefore || backend.hasPendingWork) t.splits++;
      }),
    finish: () => u.finish(),
  });
  const rag = new Proxy(backend as Backend, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      if (prop === 'createUploader') return (largest?: number) => staging(backend.createUploader(largest));
      const key = counted[prop as keyof Backend];
      if (!key) return v.bind(target);
      return (...a: unknown[]) => {
        (t[key] as number)++;
        if (key === 'ragWrites') noteSplit();
        return (v as (...x: unknown[]) => unknown).apply(target, a);
      };
    },
  });
  return {
    rag,
    snapshot: () => ({ ...t }),
    restore: () => {
      if (t.submits !== null) queue.submit = submit;
    },
  };
}

/** b − a, field by field (submits null when either is). */
export function trafficSince(a: Traffic, b: Traffic): Traffic {
  return {
    submits: a.submits === null || b.submits === null ? null : b.submits - a.submits,
    ragWrites: b.ragWrites - a.ragWrites,
    ragRuns: b.ragRuns - a.ragRuns,
    ragReads: b.ragReads - a.ragReads,
    splits: b.splits - a.splits,
  };
}
