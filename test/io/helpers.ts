import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary folder; tests remove it in afterAll. */
export async function tempFolder(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tessera-io-'));
}

/** Hand-builds safetensors bytes: any header text, any data, any length prefix (for malformed files). */
export function rawSafetensors(
  header: string | object | Uint8Array,
  data: Uint8Array | number = 0,
  lengthPrefix?: bigint,
): Uint8Array {
  const json =
    header instanceof Uint8Array
      ? header
      : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.byteLength + body.byteLength);
  new DataView(out.buffer).setBigUint64(0, lengthPrefix ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(body, 8 + json.byteLength);
  return out;
}

export async function writeBytes(path: string, bytes: Uint8Array | string): Promise<string> {
  await writeFile(path, bytes);
  return path;
}

/** Resolves with the error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}
