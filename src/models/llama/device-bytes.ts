/**
 * Live device bytes of a backend that keeps an account of them (WebGPU's arena), else null: the
 * recorded buckets and the warm-up report what they hold from the difference of two readings.
 */
import type { Backend } from '../../backends/backend.js';

export function liveDeviceBytes(backend: Backend): number | null {
  const m = (backend as { memory?: () => { totalBytes: number } }).memory;
  return m ? m.call(backend).totalBytes : null;
}
