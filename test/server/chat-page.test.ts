/**
 * The chat page in a real browser (Debian's chromium through puppeteer-core), at a phone width
 * (390×844) and a desktop one (1280×800): it lists the model, streams a reply as it is generated,
 * its Stop button cancels generation on the server, a failed turn is marked, left out of the next
 * request and can be retried, and nothing scrolls sideways. Screenshots go to docs/.
 *
 * The server requires an API key; a turn fails by sending it with a wrong key (401), which the
 * page treats as any other failed request.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.log(`[tessera] chat page test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

const API_KEY = 'page-test-key';
// The page's pictures in docs/ are refreshed on request (TESSERA_UPDATE_SCREENSHOTS=1); a plain test run
// writes them to the temp folder, so running the suite never dirties the working tree.
const SCREENSHOTS = process.env.TESSERA_UPDATE_SCREENSHOTS ? join(import.meta.dirname, '../../docs') : tmpdir();

interface SentBody {
  messages: { role: string; content: string }[];
}

let s: TestServer;
let browser: Browser;
let profile: string;

describe.skipIf(!available)('chat page in chromium', () => {
  beforeAll(async () => {
    // 15 ms per step: a 40-token reply takes long enough to be seen growing, and to be stopped.
    s = await startTestServer({ runner: { stepDelayMs: 15 }, server: { apiKey: API_KEY } });
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
  });

  afterAll(async () => {
    await browser?.close();
    await s?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  describe.each([
    { width: 390, height: 844 },
    { width: 1280, height: 800 },
  ])('at $width×$height', ({ width, height }) => {
    let page: Page;
    const sent: SentBody[] = [];

    beforeAll(async () => {
      page = await browser.newPage();
      await page.setViewport({ width, height });
      page.on('request', (req) => {
        if (req.method() === 'POST' && req.url().endsWith('/v1/chat/completions'))
          sent.push(JSON.parse(req.postData() ?? '{}') as SentBody);
      });
      await page.goto(`${s.url}/`);
      await setKey(API_KEY);
      await page.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length > 0);
    });

    afterAll(async () => {
      await page?.close();
    });

    // Settings may be folded away on a phone: fields are set directly, as a user would after opening them.
    async function setKey(key: string) {
      await page.$eval(
        '#api_key',
        (el, v) => {
          (el as HTMLInputElement).value = v;
          el.dispatchEvent(new Event('change'));
        },
        key,
      );
    }

    async function send(text: string, maxTokens: number) {
      await page.$eval('#max_tokens', (el, v) => ((el as HTMLInputElement).value = String(v)), maxTokens);
      await page.$eval('#temperature', (el) => ((el as HTMLInputElement).value = '0'));
      await page.type('#input', text);
      await page.click('#send');
    }

    const status = () => page.$eval('#status', (el) => el.textContent);
    const idle = () => page.waitForFunction(() => !(document.getElementById('send') as HTMLButtonElement).disabled);
    const noSidewaysScroll = () =>
      page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: window.innerWidth }));

    it('the settings are a sidebar on a desktop and folded under the top bar on a phone', async () => {
      const open = await page.$eval('#settings', (el) => getComputedStyle(el).display !== 'none');
      expect(open).toBe(width > 760);
      await page.click('#settings_toggle');
      expect(await page.$eval('#settings', (el) => getComputedStyle(el).display !== 'none')).toBe(!open);
      expect((await noSidewaysScroll()).scroll).toBeLessThanOrEqual(width);
      await page.click('#settings_toggle');
    });

    it('lists the model, sends a message and shows the reply streaming in', async () => {
      expect(await page.$eval('#model', (el) => (el as HTMLSelectElement).value)).toBe('tessera-toy');
      await send('Hello from the browser', 40);
      // Sample the reply while it is generated: it must be seen at several partial lengths.
      const lengths = new Set<number>();
      for (let i = 0; i < 200; i++) {
        const { length, text } = await page.evaluate(() => ({
          length: document.querySelector('.msg.assistant')?.textContent?.length ?? 0,
          text: document.getElementById('status')!.textContent,
        }));
        if (length > 0) lengths.add(length);
        if (text?.startsWith('Finished')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await status()).toBe('Finished: length');
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

    it('a failed turn is marked, left out of the next request, and can be retried', async () => {
      await setKey('wrong-key');
      await send('This turn fails', 12);
      await page.waitForSelector('.turn.failed .retry');
      await idle();
      const failure = await page.$eval('.turn.failed .failure-text', (el) => el.textContent ?? '');
      expect(failure).toMatch(/^Failed: /);

      await setKey(API_KEY);
      const before = sent.length;
      await send('After the failure', 12);
      await page.waitForFunction(() => document.getElementById('status')!.textContent?.startsWith('Finished'));
      await idle();
      const next = sent[before]!.messages.map((m) => m.content);
      expect(next).toContain('Hello from the browser');
      expect(next).not.toContain('This turn fails');
      expect(next.at(-1)).toBe('After the failure');
      expect((await noSidewaysScroll()).scroll).toBeLessThanOrEqual(width);
      await page.screenshot({ path: join(SCREENSHOTS, `chat-page-${width}.png`) });

      // Retry: the same turn is generated again in place, and from then on it is history.
      await page.click('.turn.failed .retry');
      await page.waitForFunction(() => document.querySelectorAll('.turn.failed').length === 0);
      await idle();
      expect(await status()).toBe('Finished: length');
      const retried = sent[before + 1]!.messages.map((m) => m.content);
      expect(retried.at(-1)).toBe('This turn fails');
      expect(retried).not.toContain('After the failure');
      const turns = await page.$$eval('.turn', (els) => els.length);
      expect(turns).toBe(4);

      const later = sent.length;
      await send('And once more', 8);
      await page.waitForFunction(() => document.getElementById('status')!.textContent?.startsWith('Finished'));
      await idle();
      const users = sent[later]!.messages.filter((m) => m.role === 'user').map((m) => m.content);
      expect(users).toEqual([
        'Hello from the browser',
        'Now a long one',
        'This turn fails',
        'After the failure',
        'And once more',
      ]);
    });

    it(`nothing scrolls sideways at ${width} px`, async () => {
      await send('x'.repeat(300), 4);
      await idle();
      const { scroll, client } = await noSidewaysScroll();
      console.log(`[tessera] chat page at ${width}×${height}: scrollWidth ${scroll}, innerWidth ${client}`);
      expect(scroll).toBeLessThanOrEqual(width);
    });
  });
});
