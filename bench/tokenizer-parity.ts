/**
 * Our tokenizer (io/tokenizer.ts over @huggingface/tokenizers) against Python's `tokenizers` on the
 * real Llama-3 tokenizer.json: `bench/parity/tokenize.py` writes the strings and Python's ids, this
 * compares; every string must encode to Python's ids and decode back to itself, or the bench fails.
 * Usage: node dist/bench/tokenizer-parity.js TOKENIZER_DIR python-ids.json
 */
import { readFileSync } from 'node:fs';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { row, writeResults } from './results.js';
import { Check } from './verify.js';

const [dir, idsFile] = process.argv.slice(2) as [string, string];
const tok = await loadTokenizer(dir);
const cases = JSON.parse(readFileSync(idsFile, 'utf8')) as { text: string; ids: number[] }[];
let same = 0;
let roundTrip = 0;
const bad: string[] = [];
for (const c of cases) {
  const ids = tok.encode(c.text, { addSpecialTokens: false });
  if (ids.length === c.ids.length && ids.every((x, i) => x === c.ids[i])) same++;
  else if (bad.length < 5) bad.push(JSON.stringify(c.text.slice(0, 60)));
  if (tok.decode(ids, { cleanUpTokenizationSpaces: false }) === c.text) roundTrip++;
}
console.log(
  `identical ids: ${same}/${cases.length}; decode round-trips: ${roundTrip}/${cases.length}${bad.length ? `; first differences: ${bad.join(', ')}` : ''}`,
);
const check = new Check('tokenizer-parity');
check.that(cases.length > 0, 'the reference has strings');
check.that(
  same === cases.length,
  "every string encodes to Python tokenizers' ids",
  `${same}/${cases.length}${bad.length ? `; first differences: ${bad.join(', ')}` : ''}`,
);
check.that(roundTrip === cases.length, 'every string decodes back to itself', `${roundTrip}/${cases.length}`);
writeResults(
  'tokenizer-parity',
  'cpu (host)',
  [
    row({
      case: `llama3 tokenizer.json, ${cases.length} strings`,
      metric: 'strings with identical ids',
      higherIsBetter: true,
      ours: same,
      anchor: cases.length,
      anchorName: 'python tokenizers',
      limit: cases.length,
      limitName: 'all strings',
    }),
    row({
      case: `llama3 decode(encode(s)) === s`,
      metric: 'strings',
      higherIsBetter: true,
      ours: roundTrip,
      anchor: null,
      anchorName: null,
      limit: cases.length,
      limitName: 'all strings',
      anchorWhyNull: 'a round trip of our own tokenizer has no peer figure',
    }),
  ],
  'Strings: unicode, whitespace runs, numbers, code (Tessera sources), mixed scripts; encode without special tokens.',
  check.passed(),
);
