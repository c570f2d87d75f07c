// Size report for src/: the largest functions (by lines) and the files over 400 lines.
// Usage: node scripts/code-size.mjs [top-n] [--check]
// --check (run by `npm run lint`): exits 1 when a file passes 400 lines or a function passes 80,
// except the functions in LONG_ON_PURPOSE.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseSync } from '@swc/core';

const FUNCTION_NODES = new Set([
  'FunctionDeclaration',
  'FunctionExpression',
  'ArrowFunctionExpression',
  'ClassMethod',
  'PrivateMethod',
  'Constructor',
]);

/**
 * Functions kept longer than 80 lines on purpose: WebAssembly hot loops of the CPU backend, whose
 * loop bodies stay whole because splitting them into @inline helpers changes the compiled wasm.
 */
const LONG_ON_PURPOSE = new Set([
  'src/backends/cpu/wasm/l2-topk.ts ivfScanGroups',
  'src/backends/cpu/wasm/paged-attention.ts attendRows',
]);

function* tsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* tsFiles(path);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield path;
  }
}

function lineOf(starts, offset) {
  let lo = 0,
    hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

const functions = [];
const bigFiles = [];
for (const file of tsFiles('src')) {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines.length > 400) bigFiles.push({ file, lines: lines.length });
  const bytes = Buffer.from(text);
  const starts = [0];
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 10) starts.push(i + 1);
  // swc spans keep counting across parses; a leading ';' pins the module's first byte to its span start.
  const source = text.startsWith('#!') ? `//${text.slice(2)}` : text;
  // AssemblyScript (the CPU backend's kernels) puts decorators on functions, which TypeScript's grammar lacks
  const ast = parseSync(`;${source.replace(/^@(inline|unmanaged|final|global|lazy)\b/gm, '/*@$1*/')}`, {
    syntax: 'typescript',
  });
  const base = ast.span.start + 1;
  const visit = (node, name) => {
    if (Array.isArray(node)) return node.forEach((n) => visit(n, name));
    if (!node || typeof node !== 'object') return;
    const label = node.identifier?.value ?? node.key?.value ?? node.id?.value ?? name;
    if (FUNCTION_NODES.has(node.type) && node.span) {
      const from = lineOf(starts, node.span.start - base);
      const to = lineOf(starts, node.span.end - base - 1);
      functions.push({ file, name: label ?? '(anonymous)', lines: to - from + 1, from });
    }
    for (const [key, value] of Object.entries(node)) if (key !== 'span') visit(value, label);
  };
  visit(ast.body, undefined);
}

const check = process.argv.includes('--check');
const top = Number(process.argv.find((a, i) => i >= 2 && /^\d+$/.test(a)) ?? 10);
functions.sort((a, b) => b.lines - a.lines);
console.log(`largest functions (lines):`);
for (const f of functions.slice(0, top)) console.log(`  ${String(f.lines).padStart(4)}  ${f.file}:${f.from} ${f.name}`);
console.log(`functions over 80 lines: ${functions.filter((f) => f.lines > 80).length}`);
bigFiles.sort((a, b) => b.lines - a.lines);
console.log(`files over 400 lines: ${bigFiles.length}`);
for (const f of bigFiles) console.log(`  ${String(f.lines).padStart(4)}  ${f.file}`);
if (check) {
  const long = functions.filter((f) => f.lines > 80 && !LONG_ON_PURPOSE.has(`${f.file} ${f.name}`));
  for (const f of long) console.error(`function over 80 lines: ${f.file}:${f.from} ${f.name} (${f.lines})`);
  for (const f of bigFiles) console.error(`file over 400 lines: ${f.file} (${f.lines})`);
  if (long.length || bigFiles.length) process.exit(1);
}
