import { pacedMapRead, type QueueTimeline } from './queue-timeline.js';

/**
 * One buffer's bytes to the host through a MAP_READ staging buffer: the path of `read`, which
 * callers use for results, tests and the logits of unrecorded steps. The staging buffer comes from
 * `staging` and goes back through `done` once unmapped (the backend's free list, so a loop of
 * reads of one size creates no buffer); the decode loop reads through its own readback ring.
 */
export async function copyToHost(
  device: GPUDevice,
  buffer: GPUBuffer,
  bytes: number,
  /** Raises errors the copy's submission may have caused, before the map waits on it. */
  checkErrors: () => Promise<void>,
  staging: (bytes: number) => GPUBuffer = (size) =>
    device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
  done: (staging: GPUBuffer) => void = (b) => b.destroy(),
  /** Where given, the map waits on a timer until the work before the copy is nearly done (queue-timeline.ts). */
  timeline?: QueueTimeline,
): Promise<Uint8Array> {
  const stage = staging(bytes);
  let mapped = false;
  try {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, stage, 0, bytes);
    device.queue.submit([enc.finish()]);
    const n = timeline?.submitted('free');
    await checkErrors();
    if (timeline && n) await pacedMapRead(timeline, n, stage);
    else await stage.mapAsync(GPUMapMode.READ);
    mapped = true;
    const out = new Uint8Array(stage.getMappedRange(0, bytes).slice(0));
    stage.unmap();
    mapped = false;
    done(stage);
    return out;
  } catch (e) {
    // a buffer whose copy or map failed is not handed out again
    if (mapped) stage.unmap();
    stage.destroy();
    throw e;
  }
}
