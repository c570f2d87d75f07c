/**
 * `POST /v1/images/derain` and the `/derain` page on a real server (loopback) over tiny random
 * networks on the CPU backend: the answer is the float64 forward in 8 bits; bad images, fields and
 * a missing reference are 400s that say what is wrong; the page is open, the API needs the key.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { derainService } from '../../src/cli/derain-service.js';
import { derainReferenceF64 } from '../../src/models/derain/reference.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { type RgbImage, rgbImage } from '../../src/vision/image.js';
import { decodePng, encodePng } from '../../src/vision/png.js';
import { mapOf } from '../../src/vision/reference-ops.js';
import { TINY_FILTER, writeTinyNetworks } from '../models/derain/tiny-networks.js';
import { startTestServer, type TestServer } from './helpers.js';

const seed = testSeed();
const KEY = 'derain-test-key';
const FILTER = TINY_FILTER;
let s: TestServer;
let filterWeights: Map<string, Float64Array>;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

function image(rng: Rng, h: number, w: number): RgbImage {
  return rgbImage(
    w,
    h,
    Float32Array.from({ length: h * w * 3 }, () => rng.int(0, 255) / 255),
  );
}

async function post(body: unknown, key = KEY): Promise<Response> {
  return fetch(`${s.url}/v1/images/derain`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
}

describe(`de-raining API and page (${seedNote(seed)})`, () => {
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'derain-route-'));
    filterWeights = await writeTinyNetworks(dir, seed);
    s = await startTestServer({ server: { apiKey: KEY, derain: derainService(dir, new CpuBackend()) } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('refines an image with a reference: the float64 forward in 8 bits', async () => {
    const rng = new Rng(seed ^ 1);
    const x = image(rng, 11, 14);
    const r = image(rng, 8, 9);
    const res = await post({ image: b64(encodePng(x)), reference: b64(encodePng(r)) });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { image: string; width: number; height: number; ms: number };
    expect([json.width, json.height]).toEqual([14, 11]);
    const got = decodePng(Uint8Array.from(Buffer.from(json.image, 'base64')));
    const asMap = (im: RgbImage) => mapOf(1, im.height, im.width, 3, Float64Array.from(im.data));
    const want = derainReferenceF64(filterWeights, FILTER, asMap(x), asMap(r));
    want.data.forEach((v, i) => {
      const q = Math.round(Math.min(1, Math.max(0, v)) * 255) / 255;
      if (!(Math.abs(got.data[i]! - q) <= 1 / 255 + 1e-6)) expect.fail(`value ${i}: got ${got.data[i]} want ${q}`);
    });
  });

  it('runs a base first, and the reference-free refiner', async () => {
    const rng = new Rng(seed ^ 2);
    const x = b64(encodePng(image(rng, 9, 7)));
    const r = b64(encodePng(image(rng, 6, 6)));
    for (const base of ['prior', 'prenet', 'transformer']) {
      const res = await post({ image: x, reference: r, base });
      expect(res.status, base).toBe(200);
      expect(((await res.json()) as { width: number }).width).toBe(7);
    }
    const res = await post({ image: x, refiner: true });
    expect(res.status).toBe(200);
  });

  it('says what is wrong with a request', async () => {
    const png = b64(encodePng(rgbImage(4, 4)));
    const cases: [unknown, RegExp][] = [
      [{ image: b64(new TextEncoder().encode('GIF89a....')), reference: png }, /image: not a PNG file/],
      [{ image: png, reference: 'not base64!' }, /reference: must be base64/],
      [{ image: png, reference: png, base: 'cnn' }, /base: /],
      [{ image: png, reference: png, size: 3 }, /size|Unrecognized/i],
      [{ image: png }, /attends to a reference image/],
    ];
    for (const [body, msg] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(msg);
    }
  });

  it('serves the page without the key; the API needs it', async () => {
    const page = await fetch(`${s.url}/derain`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('type="range"');
    expect(html).toContain('/v1/images/derain');
    const res = await post({ image: b64(encodePng(rgbImage(2, 2))) }, 'wrong');
    expect(res.status).toBe(401);
  });
});
