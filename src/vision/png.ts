/**
 * A small PNG codec for the vision code (Node: zlib from `node:zlib`). Decodes every non-interlaced
 * PNG (grey of 1–16 bits, grey+alpha, RGB, RGBA of 8 or 16 bits, palettes of 1–8 bits) into an `RgbImage`
 * (alpha dropped: composited over black would change pixels, so it is ignored, as the de-raining
 * datasets have none); encodes 8-bit RGB. Anything else — a bad signature, a failed CRC, a
 * truncated chunk, an interlaced image — is a `PngError` saying what and where.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { type RgbImage, rgbImage } from './image.js';

export class PngError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'PngError';
  }
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
/** Channels per color type. */
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const MAX_SIDE = 1 << 15;

interface Header {
  readonly width: number;
  readonly height: number;
  readonly depth: number;
  readonly colorType: number;
}

function parseHeader(d: DataView, what: string): Header {
  const width = d.getUint32(0);
  const height = d.getUint32(4);
  const depth = d.getUint8(8);
  const colorType = d.getUint8(9);
  if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE)
    throw new PngError(`${what}: image size ${width}×${height} is outside 1…${MAX_SIDE}`);
  if (CHANNELS[colorType] === undefined) throw new PngError(`${what}: unknown color type ${colorType}`);
  const depthOk =
    colorType === 3
      ? [1, 2, 4, 8].includes(depth)
      : colorType === 0
        ? [1, 2, 4, 8, 16].includes(depth)
        : depth === 8 || depth === 16;
  if (!depthOk) throw new PngError(`${what}: bit depth ${depth} with color type ${colorType} is not supported`);
  if (d.getUint8(12) !== 0)
    throw new PngError(`${what}: interlaced PNGs are not supported (re-save without interlace)`);
  return { width, height, depth, colorType };
}

interface Chunks {
  header: Header;
  palette?: Uint8Array;
  data: Uint8Array[];
}

function readChunks(bytes: Uint8Array, what: string): Chunks {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b))
    throw new PngError(`${what}: not a PNG file (bad signature)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let header: Header | undefined;
  let palette: Uint8Array | undefined;
  const data: Uint8Array[] = [];
  for (;;) {
    if (at + 12 > bytes.length) throw new PngError(`${what}: truncated at byte ${at} (no IEND chunk)`);
    const len = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (at + 12 + len > bytes.length) throw new PngError(`${what}: chunk '${type}' at byte ${at} is truncated`);
    const body = bytes.subarray(at + 8, at + 8 + len);
    if (crc32(bytes.subarray(at + 4, at + 8 + len)) !== view.getUint32(at + 8 + len))
      throw new PngError(`${what}: chunk '${type}' at byte ${at} fails its CRC (corrupt file)`);
    if (!header && type !== 'IHDR') throw new PngError(`${what}: the first chunk is '${type}', not IHDR`);
    if (type === 'IHDR') {
      if (len !== 13) throw new PngError(`${what}: IHDR has ${len} bytes, not 13`);
      header = parseHeader(new DataView(bytes.buffer, bytes.byteOffset + at + 8, 13), what);
    } else if (type === 'PLTE') palette = body;
    else if (type === 'IDAT') data.push(body);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  if (data.length === 0) throw new PngError(`${what}: no image data (IDAT)`);
  if (header!.colorType === 3 && !palette) throw new PngError(`${what}: palette image without a PLTE chunk`);
  return { header: header!, data, ...(palette ? { palette } : {}) };
}

const paeth = (a: number, b: number, c: number): number => {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
};

/** Undoes the per-row filters in place; returns the raw rows without their filter bytes. */
function unfilter(raw: Uint8Array, h: Header, what: string): Uint8Array {
  const bits = CHANNELS[h.colorType]! * h.depth;
  // filters predict from the byte one pixel back, or one byte back below 8 bits per pixel
  const bpp = Math.max(1, bits >> 3);
  const stride = Math.ceil((h.width * bits) / 8);
  if (raw.length < h.height * (stride + 1))
    throw new PngError(
      `${what}: image data holds ${raw.length} bytes, ${h.width}×${h.height} needs ${h.height * (stride + 1)}`,
    );
  const out = new Uint8Array(h.height * stride);
  for (let y = 0; y < h.height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = out.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? out.subarray((y - 1) * stride, y * stride) : undefined;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp]! : 0;
      const b = up ? up[i]! : 0;
      const c = up && i >= bpp ? up[i - bpp]! : 0;
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : f === 4 ? paeth(a, b, c) : -1;
      if (pred < 0) throw new PngError(`${what}: row ${y} has unknown filter type ${f}`);
      row[i] = (src[i]! + pred) & 255;
    }
  }
  return out;
}

/** Decodes PNG bytes into RGB in [0, 1]; `what` names the source in errors (a path). */
export function decodePng(bytes: Uint8Array, what = 'PNG'): RgbImage {
  const { header: h, palette, data } = readChunks(bytes, what);
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(data));
  } catch (e) {
    throw new PngError(`${what}: image data does not inflate (${(e as Error).message})`);
  }
  const px = unfilter(raw, h, what);
  const ch = CHANNELS[h.colorType]!;
  const img = rgbImage(h.width, h.height);
  const n = h.width * h.height;
  const stride = Math.ceil((h.width * ch * h.depth) / 8);
  // sub-byte samples (grey or palette, one channel): pixel p of its row, most significant bits first
  const packed = (p: number): number => {
    const x = p % h.width;
    const byte = px[Math.floor(p / h.width) * stride + ((x * h.depth) >> 3)]!;
    return (byte >> (8 - h.depth - ((x * h.depth) & 7))) & ((1 << h.depth) - 1);
  };
  const sample =
    h.depth === 16
      ? (i: number) => ((px[2 * i]! << 8) | px[2 * i + 1]!) / 65535
      : h.depth === 8
        ? (i: number) => px[i]! / 255
        : (i: number) => packed(i) / ((1 << h.depth) - 1);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      let v: number;
      if (h.colorType === 3) {
        const idx = h.depth === 8 ? px[p]! : packed(p);
        if (3 * idx + 2 >= palette!.length)
          throw new PngError(`${what}: pixel ${p} uses palette entry ${idx}, past the PLTE`);
        v = palette![3 * idx + c]! / 255;
      } else v = sample(p * ch + (ch >= 3 ? c : 0));
      img.data[p * 3 + c] = v;
    }
  }
  return img;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** Encodes RGB (values clamped to [0, 1], rounded to 8 bits) as a PNG. */
export function encodePng(img: RgbImage): Uint8Array {
  const stride = img.width * 3;
  const raw = new Uint8Array(img.height * (stride + 1));
  for (let y = 0; y < img.height; y++)
    for (let i = 0; i < stride; i++) {
      const v = img.data[y * stride + i]!;
      raw[y * (stride + 1) + 1 + i] = Math.round(Math.min(1, Math.max(0, Number.isNaN(v) ? 0 : v)) * 255);
    }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, img.width);
  v.setUint32(4, img.height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const parts = [
    Uint8Array.from(SIGNATURE),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array()),
  ];
  return Uint8Array.from(Buffer.concat(parts));
}
