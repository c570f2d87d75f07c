/**
 * The engine yields between steps through `platform.yieldToEventLoop()`. Chained, it must cost
 * about nothing (a chained `setTimeout(0)` waits ≥1 ms in Node and is clamped to 4 ms in browsers:
 * a pause on every token), and a timer that falls due must still get its turn (no starvation).
 * Both implementations run here: the browser's uses MessageChannel, which Node has too.
 */
import { describe, expect, it } from 'vitest';
import { browserPlatform } from '../../src/platform/browser.js';
import { nodePlatform } from '../../src/platform/node.js';

const YIELDS = 200;

describe.each([
  ['node', nodePlatform],
  ['browser', browserPlatform],
])('%s platform: yieldToEventLoop', (_name, platform) => {
  it(`${YIELDS} chained yields take well under a timer's clamp each`, async () => {
    await platform.yieldToEventLoop();
    const t0 = performance.now();
    for (let i = 0; i < YIELDS; i++) await platform.yieldToEventLoop();
    const each = (performance.now() - t0) / YIELDS;
    console.log(`[yield] ${_name}: ${(each * 1000).toFixed(1)} µs per yield`);
    // a setTimeout(0) chain takes ≥ 1 ms per link in Node, 4 ms in a browser
    expect(each).toBeLessThan(0.5);
  });

  it('a timer that falls due gets its turn while the loop keeps yielding', async () => {
    let fired = false;
    setTimeout(() => {
      fired = true;
    }, 5);
    const t0 = performance.now();
    while (!fired && performance.now() - t0 < 2000) await platform.yieldToEventLoop();
    expect(fired).toBe(true);
  });
});
