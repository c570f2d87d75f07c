/**
 * Renders README.md's performance table from bench/results/*.json, so every figure in it comes
 * from a result file. For each bench and card the current result is the newest date (on one date,
 * the last file name); older files stay in bench/results/ as the history. The table goes between
 * `<!-- results:begin -->` and `<!-- results:end -->`.
 *
 * Usage: node dist/scripts/render-readme.js [--check]
 *   --check: exit 1 when the committed README differs from the rendering (for CI).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BEGIN = '<!-- results:begin -->';
export const END = '<!-- results:end -->';

export interface ResultRow {
  case: string;
  metric: string;
  ours: number;
  anchor: number | null;
  anchorName: string | null;
  ratio: number | null;
  anchorWhyNull?: string | null;
}

export interface ResultFile {
  file: string;
  bench: string;
  card: string;
  date: string;
  commit: string;
  notes: string;
  /** The checks the bench passed; absent in results written before benches checked themselves. */
  checks?: string[];
  rows: ResultRow[];
}

/** Rows of each bench that the README shows (all of them where absent); the JSON keeps every row. */
const SHOWN: Record<string, (r: ResultRow) => boolean> = {
  gemm: (r) => /8192³|gate\+up M=(1|2048) /.test(r.case),
  'attention-prefill': (r) => !r.case.includes('['),
  fusion: (r) => !r.case.endsWith('wall time'),
  'mcu-planner': (r) => r.case.startsWith('network'),
  'serve-llama3-8b': (r) => r.metric === 'output tokens/s' || r.metric === 'TTFT p50 ms',
  // the filter's PSNR gain per base and rain set; SSIM and the refiner rows stay in the file
  'derain-quality': (r) => r.metric === 'PSNR dB' && r.case.endsWith('+filter'),
  derain: (r) => !r.case.startsWith('parity'),
  // the tuner's pick per graph and feature size against cuSPARSE; every format's row stays in the file
  'sparse-spmm': (r) => r.case.includes(' tuned ') && !r.case.includes(' vs our '),
  'lora-parity': (r) => /row [0-2] /.test(r.case),
};

export function readResults(dir: string): ResultFile[] {
  const out: ResultFile[] = [];
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const doc = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Partial<ResultFile>;
    // peer dumps (e.g. an HF timing file) share the folder but are not results
    if (typeof doc.bench !== 'string' || !Array.isArray(doc.rows) || typeof doc.date !== 'string') continue;
    out.push({
      file: name,
      bench: doc.bench,
      card: doc.card ?? 'unknown',
      date: doc.date,
      commit: doc.commit ?? 'unknown',
      notes: doc.notes ?? '',
      checks: doc.checks,
      rows: doc.rows,
    });
  }
  return out;
}

/**
 * Benches whose peers cannot all run in one call (each serving peer takes minutes of a 10-minute
 * call): their files are current per peer as well, so a run beside llama.cpp does not hide the
 * newest run beside transformers.
 */
const CURRENT_PER_PEER = new Set(['serve-llama3-8b']);

/** The first word of the file's first named peer ('transformers', 'llama.cpp'), or '' for none. */
export function peerOf(f: ResultFile): string {
  const name = f.rows.find((r) => r.anchorName)?.anchorName ?? '';
  return name.split(' ')[0] ?? '';
}

/**
 * The current result per bench and card (and per peer for CURRENT_PER_PEER, among the files of the
 * newest date): newest date, then the last file name of that date.
 */
export function currentResults(all: readonly ResultFile[]): ResultFile[] {
  const best = new Map<string, ResultFile>();
  for (const r of all) {
    const key = `${r.bench}\u0000${r.card}${CURRENT_PER_PEER.has(r.bench) ? `\u0000${peerOf(r)}` : ''}`;
    const b = best.get(key);
    if (!b || r.date > b.date || (r.date === b.date && r.file > b.file)) best.set(key, r);
  }
  // per peer, only the newest date's files: an older run beside a peer no longer measured stays history
  const newest = new Map<string, string>();
  for (const r of best.values()) {
    const key = `${r.bench}\u0000${r.card}`;
    if (r.date > (newest.get(key) ?? '')) newest.set(key, r.date);
  }
  return [...best.values()]
    .filter((r) => r.date === newest.get(`${r.bench}\u0000${r.card}`))
    .sort((a, b) => a.bench.localeCompare(b.bench) || a.card.localeCompare(b.card));
}

function num(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 1e-3 || a === 0) return String(Number(x.toPrecision(3)));
  return x.toExponential(1);
}

/**
 * Results from before the same-run rule whose notes admit a peer from another run or a simulated
 * one: their anchors and ratios are not shown.
 */
const FOREIGN_ANCHOR = /from an earlier|measured in an earlier|arrivals simulated/;

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTable(current: readonly ResultFile[]): string {
  const lines = [
    '| bench | case | metric | ours | anchor | ratio | date | card | commit | checked |',
    '|---|---|---|---:|---|---:|---|---|---|---|',
  ];
  for (const f of current) {
    const shown = SHOWN[f.bench];
    const card = f.card.replace(/^NVIDIA /, '');
    const checked = f.checks?.length ? 'yes' : 'no (before self-checks)';
    const foreign = !f.checks && FOREIGN_ANCHOR.test(f.notes);
    for (const r of f.rows.filter((x) => !shown || shown(x))) {
      const anchor =
        foreign && r.anchor !== null
          ? '— (peer not measured in this run)'
          : r.anchor === null
            ? `— (${r.anchorWhyNull ?? 'no anchor in this run'})`
            : `${num(r.anchor)} ${r.anchorName ?? ''}`.trim();
      const ratio = foreign ? null : r.ratio;
      lines.push(
        `| ${[f.bench, r.case, r.metric, num(r.ours), anchor, num(ratio), f.date, card, f.commit, checked].map(cell).join(' | ')} |`,
      );
    }
  }
  return lines.join('\n');
}

/** README with the table between the markers replaced. */
export function renderReadme(readme: string, table: string, current: readonly ResultFile[]): string {
  const i = readme.indexOf(BEGIN);
  const j = readme.indexOf(END);
  if (i < 0 || j < i) throw new Error(`README.md lacks the ${BEGIN} … ${END} markers`);
  const files = current.map((f) => `\`${f.file}\``).join(', ');
  const body =
    `\n<!-- generated by scripts/render-readme.ts from bench/results/ (npm run readme); do not edit by hand -->\n` +
    `Current results (per bench and card, the newest date): ${files}.\n\n${table}\n`;
  return readme.slice(0, i + BEGIN.length) + body + readme.slice(j);
}

function main(): void {
  const root = process.cwd();
  const current = currentResults(readResults(join(root, 'bench', 'results')));
  const path = join(root, 'README.md');
  const before = readFileSync(path, 'utf8');
  const after = renderReadme(before, renderTable(current), current);
  if (process.argv.includes('--check')) {
    if (after !== before) {
      console.error(
        'README.md differs from the rendering of bench/results/: run `npm run readme` and commit README.md',
      );
      process.exit(1);
    }
    console.log(`README.md matches bench/results/ (${current.length} current results)`);
    return;
  }
  if (after !== before) writeFileSync(path, after);
  console.log(
    `README.md ${after === before ? 'already matches' : 'rendered from'} bench/results/ (${current.length} current results)`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) main();
