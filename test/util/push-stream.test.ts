/** The pushed queue behind streamed replies: order, waiting, end, failure after the queued items, and abandonment. */
import { describe, expect, it } from 'vitest';
import { pushStream } from '../../src/util/push-stream.js';

async function drain<T>(s: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of s) out.push(x);
  return out;
}

describe('pushStream', () => {
  it('hands out items in order, waiting for those pushed later, until the end', async () => {
    const s = pushStream<number>(() => {
      throw new Error('not abandoned');
    });
    s.push(1);
    const all = drain(s);
    setTimeout(() => {
      s.push(2);
      s.push(3);
      s.end();
    }, 5);
    expect(await all).toEqual([1, 2, 3]);
  });

  it('throws a failure once the items before it are out', async () => {
    const s = pushStream<string>(() => undefined);
    s.push('a');
    s.fail(new Error('engine died'));
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const x of s) got.push(x);
      })(),
    ).rejects.toThrow('engine died');
    expect(got).toEqual(['a']);
  });

  it('calls onAbandon when the consumer stops early, not after an end', async () => {
    let abandoned = 0;
    const s = pushStream<number>(() => abandoned++);
    s.push(1);
    s.push(2);
    for await (const x of s) if (x === 1) break;
    expect(abandoned).toBe(1);
    const t = pushStream<number>(() => abandoned++);
    t.push(1);
    t.end();
    expect(await drain(t)).toEqual([1]);
    expect(abandoned).toBe(1);
  });
});
