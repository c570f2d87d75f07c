/** Which adapter slot each row of a step reads, pinned in the registry for the step's life. */
import type { DeviceAdapterStacks } from './adapter-stacks-device.js';
import { StepError } from './step-rows.js';

export interface AcquiredAdapters {
  /** Each row's slot (−1: no adapter). */
  readonly rows: Int32Array;
  /** Unpins the slots; call once the step is submitted (a later upload queues behind it). */
  readonly release: () => void;
}

/**
 * Each row's adapter slot for a step whose sequences feed `counts[i]` rows, pinning the slots
 * (uploading adapters not resident); null when the runner serves no adapters and none is named.
 */
export function acquireAdapterRows(
  lora: DeviceAdapterStacks | null,
  seqs: readonly { adapter?: string }[],
  counts: readonly number[],
): AcquiredAdapters | null {
  const named = seqs.flatMap((s) => (s.adapter === undefined ? [] : [s.adapter]));
  if (!lora) {
    if (named.length) throw new StepError(`adapter '${named[0]}' requested, but this model serves no adapters`);
    return null;
  }
  const registry = lora.registry;
  let slots: Map<string, number>;
  try {
    slots = registry.acquire(named);
  } catch (e) {
    throw new StepError((e as Error).message);
  }
  const rows = new Int32Array(counts.reduce((a, c) => a + c, 0));
  let t = 0;
  seqs.forEach((s, i) => {
    rows.fill(s.adapter === undefined ? -1 : slots.get(s.adapter)!, t, t + counts[i]!);
    t += counts[i]!;
  });
  return { rows, release: () => registry.release(named) };
}
