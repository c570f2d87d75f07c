/**
 * The datastore file format, little-endian, every section 4-byte aligned so a loader can view it
 * in place:
 *
 *   magic "TIVF" | u32 version (1) | u32 d | u32 nlist | u32 n | u32 dtype (0 = f32, 1 = f16)
 *   f32 centroids [nlist, d] | i32 offsets [nlist + 1] | i32 ids [n] | vectors [n, d] (f32, or f16 bits)
 *
 * Cluster c's rows are [offsets[c], offsets[c+1]), so the vectors section is already the upload
 * layout: a cluster is one contiguous slice.
 */
import type { IvfStore } from './ivf-store.js';

const MAGIC = 0x46564954; // "TIVF" read as a little-endian u32
const VERSION = 1;
const HEADER_WORDS = 6;

export function ivfToBytes(s: IvfStore): Uint8Array {
  const n = s.ids.length;
  const vecBytes = n * s.d * (s.dtype === 'f16' ? 2 : 4);
  const total = 4 * (HEADER_WORDS + s.nlist * s.d + s.nlist + 1 + n) + vecBytes;
  const out = new Uint8Array(total);
  const head = new Uint32Array(out.buffer, 0, HEADER_WORDS);
  head.set([MAGIC, VERSION, s.d, s.nlist, n, s.dtype === 'f16' ? 1 : 0]);
  let at = 4 * HEADER_WORDS;
  for (const part of [s.centroids, s.offsets, s.ids, s.vectors]) {
    out.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), at);
    at += part.byteLength;
  }
  return out;
}

export function ivfFromBytes(bytes: Uint8Array): IvfStore {
  // copy into a fresh aligned buffer: the sections below are typed-array views of it
  const buf = new Uint8Array(bytes.byteLength);
  buf.set(bytes);
  if (buf.byteLength < 4 * HEADER_WORDS) throw new Error('IVF file: shorter than its header');
  const [magic, version, d, nlist, n, dt] = new Uint32Array(buf.buffer, 0, HEADER_WORDS) as unknown as number[];
  if (magic !== MAGIC) throw new Error('IVF file: bad magic (not a TIVF datastore)');
  if (version !== VERSION) throw new Error(`IVF file: version ${version}, this reader knows ${VERSION}`);
  if (dt !== 0 && dt !== 1) throw new Error(`IVF file: unknown vector dtype code ${dt}`);
  const dtype = dt === 1 ? 'f16' : 'f32';
  const want = 4 * (HEADER_WORDS + nlist! * d! + nlist! + 1 + n!) + n! * d! * (dt === 1 ? 2 : 4);
  if (buf.byteLength !== want) throw new Error(`IVF file: ${buf.byteLength} bytes, the header implies ${want}`);
  let at = 4 * HEADER_WORDS;
  const take = <T>(make: (o: number, len: number) => T, len: number, bpe: number): T => {
    const v = make(at, len);
    at += len * bpe;
    return v;
  };
  const centroids = take((o, l) => new Float32Array(buf.buffer, o, l), nlist! * d!, 4);
  const offsets = take((o, l) => new Int32Array(buf.buffer, o, l), nlist! + 1, 4);
  const ids = take((o, l) => new Int32Array(buf.buffer, o, l), n!, 4);
  const vectors =
    dtype === 'f16'
      ? take((o, l) => new Uint16Array(buf.buffer, o, l), n! * d!, 2)
      : take((o, l) => new Float32Array(buf.buffer, o, l), n! * d!, 4);
  if (offsets[0] !== 0 || offsets[nlist!] !== n) throw new Error('IVF file: offsets do not span the rows');
  for (let c = 0; c < nlist!; c++)
    if (offsets[c + 1]! < offsets[c]!) throw new Error(`IVF file: offsets decrease at cluster ${c}`);
  return { d: d!, nlist: nlist!, dtype, centroids, offsets, ids, vectors };
}
