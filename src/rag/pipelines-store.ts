/**
 * A datastore that pipelines read: the IVF index of the passages' embeddings plus the passages'
 * texts and the embedder that made them, kept as one folder so a store built by `tessera rag index`
 * is served as is (its folder format: `src/cli/rag-store-file.ts`).
 */
import type { Backend } from '../backends/backend.js';
import { buildIvf } from './build.js';
import type { IvfStore } from './ivf-store.js';
import type { Embedder } from './lookahead.js';

export interface StoredPassage {
  readonly id: number;
  readonly text: string;
  /** Where it came from (a file name, a JSONL line). */
  readonly source: string;
}

export interface TextStore {
  readonly ivf: IvfStore;
  readonly passages: readonly StoredPassage[];
  /** How the vectors were made: 'glove' or an encoder's path; queries must be embedded alike. */
  readonly embedder: string;
}

/**
 * Splits a document into passages of at most `maxWords` words on paragraph boundaries where it
 * can, so a passage is a unit a reader would quote; a paragraph longer than that is cut by words.
 */
export function chunkText(text: string, maxWords = 100): string[] {
  const out: string[] = [];
  let current: string[] = [];
  const flush = () => {
    if (current.length) out.push(current.join(' '));
    current = [];
  };
  for (const para of text.split(/\n\s*\n/)) {
    const words = para.split(/\s+/).filter(Boolean);
    if (!words.length) continue;
    if (current.length + words.length > maxWords) flush();
    for (let i = 0; i < words.length; i += maxWords) {
      const part = words.slice(i, i + maxWords);
      if (part.length === maxWords) {
        flush();
        out.push(part.join(' '));
      } else current.push(...part);
    }
  }
  flush();
  return out;
}

export interface BuildTextStoreOptions {
  readonly embedderName: string;
  readonly seed: number;
  /** Default: about √n clusters, at least 1. */
  readonly nlist?: number;
  readonly backend?: Backend;
  /** Texts per embedder call. */
  readonly batch?: number;
}

/** Embeds the passages (ids = their order) and builds the IVF index over them. */
export async function buildTextStore(
  passages: readonly { text: string; source: string }[],
  embed: Embedder,
  o: BuildTextStoreOptions,
): Promise<TextStore> {
  if (passages.length === 0) throw new Error('no passages to index');
  const batch = o.batch ?? 32;
  const rows: Float32Array[] = [];
  for (let at = 0; at < passages.length; at += batch)
    rows.push(...(await embed(passages.slice(at, at + batch).map((p) => p.text))));
  const d = rows[0]!.length;
  const vectors = new Float32Array(rows.length * d);
  rows.forEach((v, i) => vectors.set(v, i * d));
  const nlist = Math.min(passages.length, o.nlist ?? Math.max(1, Math.round(Math.sqrt(passages.length))));
  const ivf = await buildIvf(vectors, d, { nlist, seed: o.seed, ...(o.backend ? { backend: o.backend } : {}) });
  return {
    ivf,
    passages: passages.map((p, id) => ({ id, text: p.text, source: p.source })),
    embedder: o.embedderName,
  };
}
