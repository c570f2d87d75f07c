/**
 * The de-raining page in a real browser (Debian's chromium through puppeteer-core) over tiny random
 * networks: pick an image and a reference, run, and the before/after pair appears with the slider
 * moving the split; a failed request shows the server's message. A screenshot goes to the temp
 * folder (docs/ with TESSERA_UPDATE_SCREENSHOTS=1).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { derainService } from '../../src/cli/derain-service.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { rgbImage } from '../../src/vision/image.js';
import { encodePng } from '../../src/vision/png.js';
import { writeTinyNetworks } from '../models/derain/tiny-networks.js';
import { startTestServer, type TestServer } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available)
  console.log(`[tessera] de-raining page test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
const SCREENSHOTS = process.env.TESSERA_UPDATE_SCREENSHOTS ? join(import.meta.dirname, '../../docs') : tmpdir();
const seed = testSeed();

let s: TestServer;
let browser: Browser;
let page: Page;
let dir: string;

function pngFile(name: string, h: number, w: number, rng: Rng): string {
  // smooth colours with noise, so the page shows a picture rather than static
  const data = Float32Array.from({ length: h * w * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    return Math.min(1, Math.max(0, ((i % 3) * 0.3 + (p % w) / w) * 0.6 + rng.uniform(-0.1, 0.1)));
  });
  const path = join(dir, name);
  writeFileSync(path, encodePng(rgbImage(w, h, data)));
  return path;
}

describe.skipIf(!available)(`de-raining page in chromium (${seedNote(seed)})`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'derain-page-'));
    await writeTinyNetworks(dir, seed);
    s = await startTestServer({ server: { derain: derainService(dir, new CpuBackend()) } });
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        `--user-data-dir=${join(dir, 'profile')}`,
      ],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 900, height: 700 });
    await page.goto(`${s.url}/derain`);
  });

  afterAll(async () => {
    await browser?.close();
    await s?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the filter on the chosen images and compares them with a slider', async () => {
    const rng = new Rng(seed);
    await ((await page.$('#image')) as ElementHandle<HTMLInputElement>).uploadFile(pngFile('in.png', 48, 64, rng));
    await ((await page.$('#reference')) as ElementHandle<HTMLInputElement>).uploadFile(pngFile('ref.png', 40, 40, rng));
    await page.select('#base', 'prior');
    await page.click('#run');
    await page.waitForFunction(
      () => document.getElementById('after')?.getAttribute('src')?.startsWith('data:image/png'),
      {
        timeout: 30_000,
      },
    );
    await page.waitForFunction(() => (document.getElementById('after') as HTMLImageElement).complete);
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/^64×48 in \d+ ms$/);
    expect(
      await page.$eval('#after', (e) => [(e as HTMLImageElement).naturalWidth, (e as HTMLImageElement).naturalHeight]),
    ).toEqual([64, 48]);
    await page.$eval('#slider', (e) => {
      (e as HTMLInputElement).value = '20';
      e.dispatchEvent(new Event('input'));
    });
    expect(await page.$eval('#after', (e) => (e as HTMLElement).style.clipPath)).toBe('inset(0px 0px 0px 20%)');
    await page.screenshot({ path: join(SCREENSHOTS, 'derain-page.png') });
  });

  it("shows the server's message when a request fails", async () => {
    await page.select('#base', '');
    await ((await page.$('#reference')) as ElementHandle<HTMLInputElement>).uploadFile(join(dir, 'filter.safetensors'));
    await page.click('#run');
    await page.waitForFunction(() => document.getElementById('status')?.className === 'error', { timeout: 30_000 });
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/reference: not a PNG file/);
  });
});
