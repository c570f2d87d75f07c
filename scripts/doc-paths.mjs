/**
 * Fails when a doc names a repository path that does not exist: README.md, docs/*.md (not the dated
 * notes, which describe the tree as it was) and every folder README under src, bench, scripts and
 * models. A path is a backticked `src/…`, `test/…`, `bench/…`, `docs/…`, `scripts/…`, `models/…`,
 * `data/…` or `.ci/…` (a `.js` name may stand for its `.ts` source), or a relative Markdown link.
 * Run from the repository root: `node scripts/doc-paths.mjs` (part of `npm run lint`).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOTS = /^(src|test|bench|docs|scripts|models|data|\.ci)\//;

function folderReadmes(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : folderReadmes(path);
    return name === 'README.md' ? [path] : [];
  });
}

/** The paths a Markdown text names: [path, as a link (relative to the file) or not]. */
function namedPaths(text) {
  const out = [];
  for (const m of text.matchAll(/`([A-Za-z0-9_.\/-]+\/[A-Za-z0-9_.\/-]*[A-Za-z0-9_])`/g))
    if (ROOTS.test(m[1])) out.push([m[1], false]);
  for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) if (!/^[a-z]+:/.test(m[1])) out.push([m[1], true]);
  return out;
}

const exists = (p) => existsSync(p) || (p.endsWith('.js') && existsSync(p.replace(/\.js$/, '.ts')));

const docs = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...['src', 'bench', 'scripts', 'models'].flatMap(folderReadmes),
];
const missing = [];
for (const doc of docs)
  for (const [path, link] of namedPaths(readFileSync(doc, 'utf8'))) {
    const candidates = link ? [join(dirname(doc), path)] : [path, join(dirname(doc), path)];
    if (!candidates.some(exists)) missing.push(`${doc}: ${path}`);
  }
if (missing.length) {
  console.error(`paths named in docs that do not exist (${missing.length}):\n  ${missing.join('\n  ')}`);
  process.exit(1);
}
console.log(`doc paths: ${docs.length} docs, every named path exists`);
