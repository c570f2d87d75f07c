/**
 * The chat page in a real browser (Debian's chromium through puppeteer-core): it lists the model,
 * streams a reply as it is generated, and its Stop button cancels generation on the server.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.log(`[tessera] browser test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

describe.skipIf(!available)('chat page in chromium', () => {
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  let profile: string;

  beforeAll(async () => {
    // 15 ms per step: a 40-token reply takes long enough to be seen growing, and to be stopped.
    s = await startTestServer({ runner: { stepDelayMs: 15 } });
    profile = mkdtempSync(join(tmpdir(), 'tessera-chromium-'));
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--user-data-dir=${profile}`,
      ],
    });
    page = await browser.newPage();
    await page.goto(`${s.url}/`);
    await page.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length > 0);
  });

  afterAll(async () => {
    await browser?.close();
    await s?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function send(text: string, maxTokens: number) {
    await page.$eval('#max_tokens', (el, v) => ((el as HTMLInputElement).value = String(v)), maxTokens);
    await page.$eval('#temperature', (el) => ((el as HTMLInputElement).value = '0'));
    await page.type('#input', text);
    await page.click('#send');
  }

  it('lists the model, sends a message and shows the reply streaming in', async () => {
    expect(await page.$eval('#model', (el) => (el as HTMLSelectElement).value)).toBe('tessera-toy');
    await send('Hello from the browser', 40);
    // Sample the reply while it is generated: it must be seen at several partial lengths.
    const lengths = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const { length, status } = await page.evaluate(() => ({
        length: document.querySelector('.msg.assistant')?.textContent?.length ?? 0,
        status: document.getElementById('status')!.textContent,
      }));
      if (length > 0) lengths.add(length);
      if (status?.startsWith('Finished')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await page.$eval('#status', (el) => el.textContent)).toBe('Finished: length');
    const shown = await page.$eval('.msg.assistant', (el) => el.textContent);
    expect(lengths.size).toBeGreaterThan(2);
    // The page shows what the API returns for the same conversation.
    const api = await s.client.chat.completions.create({
      model: 'tessera-toy',
      messages: [{ role: 'user', content: 'Hello from the browser' }],
      max_tokens: 40,
      temperature: 0,
      top_p: 0.95,
    });
    expect(shown).toBe(api.choices[0]!.message.content);
  });

  it('the Stop button cancels generation on the server', async () => {
    await send('Now a long one', 800);
    await page.waitForFunction(() => (document.querySelectorAll('.msg.assistant')[1]?.textContent?.length ?? 0) > 3);
    await page.click('#stop');
    await page.waitForFunction(() => document.getElementById('status')!.textContent === 'Stopped.');
    const end = Date.now() + 3000;
    while (s.engine.stats().runningSequences > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(s.engine.stats().runningSequences).toBe(0);
    expect(s.state.activeRequests).toBe(0);
    expect(await page.$eval('#send', (el) => (el as HTMLButtonElement).disabled)).toBe(false);
  });
});
