/**
 * Stop-string detection over streamed text.
 *
 * Text that could be the start of a stop string is held back until it either completes the stop
 * string (then generation ends and the stop string is not emitted, as in OpenAI's API) or
 * diverges from it, so a client never sees text that later turns out to be a stop sequence.
 */
export class StopStringMatcher {
  private pending = '';
  constructor(private readonly stops: readonly string[]) {}

  /** Feeds new text; returns the text that is safe to emit and whether a stop string was hit. */
  push(delta: string): { emit: string; stopped: boolean } {
    if (this.stops.length === 0) return { emit: delta, stopped: false };
    const buffer = this.pending + delta;
    let first = -1;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      this.pending = '';
      return { emit: buffer.slice(0, first), stopped: true };
    }
    const hold = this.heldSuffixLength(buffer);
    this.pending = buffer.slice(buffer.length - hold);
    return { emit: buffer.slice(0, buffer.length - hold), stopped: false };
  }

  /** Held-back text, released when generation ends for another reason. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private heldSuffixLength(text: string): number {
    let best = 0;
    for (const stop of this.stops) {
      for (let len = Math.min(stop.length - 1, text.length); len > best; len--) {
        if (text.endsWith(stop.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}
