// Token ids for attention_max_climb.py: 8 sequences of exactly 512 tokens of Brown-corpus text,
// tokenized by Tessera's own Tokenizer with the built-in model's tokenizer.json.
// Usage: npx tsc -p tsconfig.build.json --outDir /tmp/climb-build
//        node bench/anchors/attention-max-climb-tokens.mjs [build dir=/tmp/climb-build] [out=/tmp/climb-tokens.json]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const build = resolve(process.argv[2] ?? '/tmp/climb-build');
const out = process.argv[3] ?? '/tmp/climb-tokens.json';
const SEQS = 8,
  LEN = 512;

// A build outside the repo cannot resolve '@huggingface/tokenizers' unless node_modules is reachable from it.
if (!existsSync(join(build, 'node_modules'))) symlinkSync(join(repo, 'node_modules'), join(build, 'node_modules'));
const { loadTokenizer } = await import(pathToFileURL(join(build, 'src/io/tokenizer.js')).href);
const modelDir = join(repo, 'models/builtin');
const tok = await loadTokenizer(modelDir);
const { bos_token_id: bos, eos_token_id: eos } = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));

// Reuse the training extractor so the text is exactly what the model saw; sample paragraphs evenly
// across the corpus so all 15 genres (news .. humor) appear rather than one file's style.
const lines = execFileSync('node', [join(repo, 'scripts/builtin-model/extract-corpus.mjs')], {
  cwd: repo,
  maxBuffer: 1 << 28,
})
  .toString('utf8')
  .split('\n')
  .filter(Boolean);

// Training packed paragraphs as `text </s> text </s> ...`; each sequence here starts with BOS
// (the attention-sink token the kernel question is about), then that stream cut at 512 tokens.
const stream = [];
let used = 0;
for (let i = 0; stream.length < SEQS * (LEN - 1); i += Math.floor(lines.length / 24), used++) {
  stream.push(...tok.encode(lines[i % lines.length], { addSpecialTokens: false }), eos);
}
const seqs = [];
for (let s = 0; s < SEQS; s++) seqs.push([bos, ...stream.slice(s * (LEN - 1), (s + 1) * (LEN - 1))]);
writeFileSync(out, JSON.stringify(seqs));
console.log(`${used} paragraphs -> ${SEQS} sequences x ${LEN} tokens -> ${out}`);
