/**
 * One buffer's bytes to the host through a fresh MAP_READ staging buffer: the path of `read`, which
 * callers use off the hot loop (results, tests). The decode loop reads through its own readback ring.
 */
export async function copyToHost(
  device: GPUDevice,
  buffer: GPUBuffer,
  bytes: number,
  /** Raises errors the copy's submission may have caused, before the map waits on it. */
  checkErrors: () => Promise<void>,
): Promise<Uint8Array> {
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
    device.queue.submit([enc.finish()]);
    await checkErrors();
    await staging.mapAsync(GPUMapMode.READ);
    return new Uint8Array(staging.getMappedRange().slice(0));
  } finally {
    staging.destroy();
  }
}
