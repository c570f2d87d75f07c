/**
 * Host pauses while a bench serves: garbage-collection pauses (V8's `gc` performance entries)
 * and the event loop's largest delay. A decode step whose wall time is hundreds of ms while its
 * recording replays is either the device or the host; these say whether the host was stopped.
 */
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

export interface HostPauses {
  /** GC pauses seen, their total and their longest (ms), and the event loop's longest delay (ms). */
  readonly gcCount: number;
  readonly gcTotalMs: number;
  readonly gcMaxMs: number;
  readonly loopDelayMaxMs: number;
}

/** Starts watching; `stop()` ends the watch and returns what it saw. */
export function watchHostPauses(): { stop(): HostPauses } {
  let gcCount = 0;
  let gcTotalMs = 0;
  let gcMaxMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcCount++;
      gcTotalMs += e.duration;
      gcMaxMs = Math.max(gcMaxMs, e.duration);
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  // 10 ms resolution: the pauses in question are tens to hundreds of ms
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  return {
    stop() {
      gc.disconnect();
      loop.disable();
      // the histogram is in ns; an empty one reports its max as 0
      return { gcCount, gcTotalMs, gcMaxMs, loopDelayMaxMs: loop.max / 1e6 };
    },
  };
}

export const describeHostPauses = (p: HostPauses) =>
  `host pauses: ${p.gcCount} GC, ${p.gcTotalMs.toFixed(0)} ms in all, longest ${p.gcMaxMs.toFixed(1)} ms; event loop delayed at most ${p.loopDelayMaxMs.toFixed(0)} ms`;
