/**
 * The sliced `lora_delta` kernel's counters and parts (lora-delta-sliced.ts) live in a workspace
 * buffer the kernel owns per device and size, not in step scratch: its counters must start at zero,
 * and scratch comes from the backend's free list with whatever the last user left. A new buffer is
 * zeroed by WebGPU, and every run of the kernel leaves its counters at zero again, so one buffer
 * serves every call, recorded or not; dispatches that share it run in queue order.
 */
const workspaces = new WeakMap<GPUDevice, Map<number, GPUBuffer>>();

export function chunkWorkspace(device: GPUDevice, bytes: number): GPUBuffer {
  let bySize = workspaces.get(device);
  if (!bySize) workspaces.set(device, (bySize = new Map()));
  let buffer = bySize.get(bytes);
  if (!buffer) {
    buffer = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE, label: 'lora_delta chunk workspace' });
    bySize.set(bytes, buffer);
  }
  return buffer;
}
