/**
 * The PNG codec: images written by Pillow (test/fixtures/png, made by make-fixtures.py) decode to
 * Pillow's own pixels; our encoding decodes back; malformed files give a PngError naming the fault.
 */
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { rgbImage } from '../../src/vision/image.js';
import { PngError, decodePng, encodePng } from '../../src/vision/png.js';

const dir = new URL('../fixtures/png/', import.meta.url);
const expected = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8')) as Record<
  string,
  { width: number; height: number; rgb: number[] }
>;
const seed = testSeed();

describe(`PNG codec (${seedNote(seed)})`, () => {
  for (const [name, want] of Object.entries(expected)) {
    it(`decodes Pillow's ${name}.png to Pillow's pixels`, () => {
      const img = decodePng(readFileSync(new URL(`${name}.png`, dir)), name);
      expect([img.width, img.height]).toEqual([want.width, want.height]);
      img.data.forEach((v, i) => {
        if (!(Math.abs(v - want.rgb[i]!) < 1e-5)) expect.fail(`${name} value ${i}: got ${v} want ${want.rgb[i]}`);
      });
    });
  }

  it('round-trips its own 8-bit encoding exactly', () => {
    const rng = new Rng(seed);
    const img = rgbImage(
      13,
      17,
      Float32Array.from({ length: 13 * 17 * 3 }, () => rng.int(0, 255) / 255),
    );
    const back = decodePng(encodePng(img));
    expect([back.width, back.height]).toEqual([13, 17]);
    back.data.forEach((v, i) => expect(Math.abs(v - img.data[i]!)).toBeLessThan(1e-7));
  });

  const good = () => Uint8Array.from(readFileSync(new URL('rgb8.png', dir)));
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['empty input', () => new Uint8Array(), /bad signature/],
    ['a JPEG signature', () => Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0, 0, 0]), /bad signature/],
    ['a file cut in half', () => good().subarray(0, 60), /truncated/],
    [
      'a flipped bit in the image data',
      () => {
        const b = good();
        b[50] ^= 1;
        return b;
      },
      /fails its CRC/,
    ],
    ['no IEND', () => good().subarray(0, good().length - 12), /truncated at byte .* \(no IEND chunk\)/],
  ];
  for (const [what, bytes, msg] of cases)
    it(`rejects ${what} with a PngError`, () => {
      expect(() => decodePng(bytes(), 'bad.png')).toThrow(PngError);
      expect(() => decodePng(bytes(), 'bad.png')).toThrow(msg);
    });

  it('rejects an interlaced image and image data too short for its header', () => {
    const png = encodePng(rgbImage(2, 2));
    const crcFix = (b: Uint8Array, at: number, len: number) => {
      new DataView(b.buffer).setUint32(at + 8 + len, crc32(b.subarray(at + 4, at + 8 + len)));
    };
    const interlaced = Uint8Array.from(png);
    interlaced[8 + 8 + 12] = 1;
    crcFix(interlaced, 8, 13);
    expect(() => decodePng(interlaced, 'i.png')).toThrow(/interlaced/);
    // a 40-pixel-wide header over a 2×2 image's data: the rows are too short
    const big = Uint8Array.from(encodePng(rgbImage(2, 2)));
    new DataView(big.buffer).setUint32(16, 40);
    crcFix(big, 8, 13);
    expect(() => decodePng(big, 'big.png')).toThrow(/image data holds \d+ bytes/);
  });
});
