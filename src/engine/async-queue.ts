/**
 * A single-consumer async queue: the engine pushes events, one reader iterates them with
 * `for await`. Ends when closed; rethrows a failure at the point it happened.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | null = null;
  private closed = false;
  private failure: { error: unknown } | null = null;

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.wakeReader();
  }

  close(): void {
    this.closed = true;
    this.wakeReader();
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = { error };
    this.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length) {
        yield this.items.shift()!;
        continue;
      }
      if (this.closed) {
        if (this.failure) throw this.failure.error;
        return;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wakeReader(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}
