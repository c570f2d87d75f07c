/**
 * The overlap probe's clock: the host's, from submit to completion of one command buffer holding
 * many repetitions (timestamp queries are quantised too coarsely through Dawn). Its cost is bounded
 * whatever a repetition takes: repetitions per block reach `minMs` and no more than `maxReps`, and
 * a row runs 5 blocks only while they fit `rowMs`, else 3 (the fewest a median needs) — so a row
 * costs about max(warmMs, T) + max(3·max(minMs, T), min(rowMs, 5·max(minMs, T))) for a repetition of T.
 */
import { median } from './results.js';
import type { Dispatch } from './nanoflow-overlap-setup.js';

export interface TimerOptions {
  /** A block of repetitions lasts at least this long (ms) where repetitions are short. */
  minMs: number;
  /** Warm-up: one repetition, then more until this much time (ms) has gone. */
  warmMs: number;
  /** Upper bound (ms) of the 5 blocks of a row; longer repetitions get 3 blocks. */
  rowMs: number;
  maxReps: number;
}

export const DEFAULT_TIMER: TimerOptions = { minMs: 20, warmMs: 60, rowMs: 1500, maxReps: 200 };

/** ms per repetition of `passes` (each inner list one compute pass), `before` run ahead of each submit. */
export type Timer = (passes: Dispatch[][], before?: () => void) => Promise<number>;

export function makeTimer(device: GPUDevice, pipeline: GPUComputePipeline, o: TimerOptions): Timer {
  return async (passes, before = () => {}) => {
    const run = async (reps: number) => {
      const enc = device.createCommandEncoder();
      for (let r = 0; r < reps; r++)
        for (const list of passes) {
          const pass = enc.beginComputePass();
          pass.setPipeline(pipeline);
          for (const d of list) {
            pass.setBindGroup(0, d.bind);
            pass.dispatchWorkgroups(d.groups);
          }
          pass.end();
        }
      const t0 = performance.now();
      before();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    let one = await run(1);
    for (let warm = one; warm < o.warmMs; warm += one) one = await run(1);
    const reps = Math.max(1, Math.min(o.maxReps, Math.ceil(o.minMs / Math.max(one, 0.01))));
    const blocks = 5 * reps * one <= o.rowMs ? 5 : 3;
    const per: number[] = [];
    for (let b = 0; b < blocks; b++) per.push((await run(reps)) / reps);
    return median(per);
  };
}

/** ms of a writeBuffer of `src` until the queue says it is done (median of 5 after a warm-up). */
export async function timeUploadOnly(device: GPUDevice, dst: GPUBuffer, src: Uint8Array): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    device.queue.writeBuffer(dst, 0, src);
    device.queue.submit([]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await once();
  const per: number[] = [];
  for (let i = 0; i < 5; i++) per.push(await once());
  return median(per);
}
