/** Saves and loads an IVF datastore as one file in the format of `ivf-format.ts`. */
import { readFile, writeFile } from 'node:fs/promises';
import { ivfFromBytes, ivfToBytes } from './ivf-format.js';
import type { IvfStore } from './ivf-store.js';

export async function saveIvf(path: string, store: IvfStore): Promise<void> {
  await writeFile(path, ivfToBytes(store));
}

export async function loadIvf(path: string): Promise<IvfStore> {
  return ivfFromBytes(await readFile(path));
}
