/**
 * Items pushed by a producer (an engine's events, a worker's messages), handed out in order to one
 * async iterator: it waits while the queue is empty, ends after `end()`, throws the `fail()` error
 * once the queue before it is drained, and calls `onAbandon` when the consumer stops early.
 */
export interface PushStream<T> extends AsyncIterable<T> {
  push(item: T): void;
  end(): void;
  fail(error: Error): void;
}

export function pushStream<T>(onAbandon: () => void): PushStream<T> {
  const queue: T[] = [];
  let done = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  return {
    push(item) {
      queue.push(item);
      notify();
    },
    end() {
      done = true;
      notify();
    },
    fail(error) {
      failure = error;
      notify();
    },
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          if (queue.length) yield queue.shift()!;
          else if (failure) throw failure;
          else if (done) return;
          else await new Promise<void>((r) => (wake = r));
        }
      } finally {
        if (!done && !failure) onAbandon();
      }
    },
  };
}
