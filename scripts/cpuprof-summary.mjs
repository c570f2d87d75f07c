/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time,
 * and the inclusive time of named functions (a frame counted once however deep it recurses), both
 * divided by `--per N` (e.g. the number of steps the profile covers) to read as ms per step.
 *
 * Usage: node scripts/cpuprof-summary.mjs FILE.cpuprofile [--per 63] [--top 30] [--incl name1,name2] [--under name]
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const file = args[0];
if (!file)
  throw new Error('usage: cpuprof-summary.mjs FILE.cpuprofile [--per N] [--top N] [--incl a,b] [--under name]');
const per = Number(opt('per', '1'));
const top = Number(opt('top', '30'));
const incl = (opt('incl', '') || '').split(',').filter(Boolean);
const under = opt('under', '');

const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// time per sample: the deltas, attributed to the sample's node
const selfUs = new Map();
prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const hasAncestor = (id, want) => {
  for (let cur = id; cur !== undefined; cur = parent.get(cur))
    if (byId.get(cur).callFrame.functionName === want) return true;
  return false;
};
// --under NAME: only samples taken inside NAME (e.g. the step's host part)
if (under) for (const id of [...selfUs.keys()]) if (!hasAncestor(id, under)) selfUs.delete(id);
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

const name = (n) => {
  const f = n.callFrame;
  const where = f.url ? f.url.split('/').pop() : '';
  return `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
};
const self = new Map();
for (const [id, us] of selfUs) {
  const k = name(byId.get(id));
  self.set(k, (self.get(k) ?? 0) + us);
}
const ms = (us) => (us / 1000 / per).toFixed(3);
console.log(`total ${ms(totalUs)} ms (÷ ${per})`);
console.log('self time:');
for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms(us).padStart(9)}  ${k}`);

if (incl.length) {
  console.log('inclusive time:');
  for (const want of incl) {
    let us = 0;
    for (const [id, t] of selfUs) {
      // counted once if any ancestor (or itself) is `want`
      if (hasAncestor(id, want)) us += t;
    }
    console.log(`  ${ms(us).padStart(9)}  ${want}`);
  }
}
