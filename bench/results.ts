/**
 * Shared benchmark plumbing: GPU timing of enqueued work, random device-side data, anchors written
 * by the PyTorch scripts, and results in DESIGN.md's JSON shape
 * (`bench/results/<bench>-<date>-<card-short>.json`, or under $BENCH_OUT) with a printed table.
 * A result is written only with the `Verified` token of bench/verify.ts, and an anchor only ever
 * comes from a peer measured in the same run: a row without one says why in `anchorWhyNull`.
 */
import '../src/register-all.js';
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Tensor } from '../src/backends/backend.js';
import type { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import type { DType } from '../src/tensor/dtype.js';
import { type Verified, fail, isVerified } from './verify.js';

export interface BenchRow {
  case: string;
  metric: string;
  higherIsBetter: boolean;
  ours: number;
  anchor: number | null;
  anchorName: string | null;
  ratio: number | null;
  limit: number | null;
  limitName: string | null;
  /** Why `anchor` is null (the peer could not run in this run, or the row has none by nature). */
  anchorWhyNull?: string | null;
  /** Where a bench measures several peers: each one's figure (the anchor is one of them), or null with why. */
  peers?: PeerFigure[];
}

export interface PeerFigure {
  name: string;
  value: number | null;
  /** ours against this peer, the DESIGN.md way (above 1 means we win). */
  ratio: number | null;
  whyNull: string | null;
}

/** One peer's figure beside ours, with its ratio; null values keep their reason. */
export function peerFigure(
  name: string,
  value: number | null,
  whyNull: string | null,
  ours: number,
  higherIsBetter: boolean,
): PeerFigure {
  const ratio = value === null || !ours ? null : higherIsBetter ? ours / value : value / ours;
  return { name, value, ratio, whyNull: value === null ? (whyNull ?? 'no figure') : null };
}

/** A row with the ratio computed the DESIGN.md way (above 1 means we win). */
export function row(r: Omit<BenchRow, 'ratio'>): BenchRow {
  const ratio = r.anchor === null || !r.ours ? null : r.higherIsBetter ? r.ours / r.anchor : r.anchor / r.ours;
  return { ...r, anchorWhyNull: r.anchor === null ? (r.anchorWhyNull ?? null) : null, ratio };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** The card's marketing name: nvidia-smi where present, else the adapter's description. */
export function cardName(backend: WebGpuBackend): string {
  try {
    const smi = execSync('nvidia-smi --query-gpu=name --format=csv,noheader', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .split('\n')[0]!
      .trim();
    if (smi) return smi;
  } catch {
    /* no NVIDIA tools here */
  }
  return backend.caps.description || backend.caps.device || backend.caps.vendor || 'unknown';
}

export function cardShort(card: string): string {
  const m = /\b([AHBL]\d{2,3}|RTX ?\d{4}|llvmpipe|lavapipe)\b/i.exec(card);
  return (m ? m[1]! : card.split(/\s+/).slice(0, 2).join('-')).toLowerCase().replace(/[^a-z0-9-]/g, '');
}

export function commitHash(): string {
  if (process.env.TESSERA_COMMIT) return process.env.TESSERA_COMMIT;
  try {
    return execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

/**
 * GPU time of one call of `enqueue`, from replays of a recorded dispatch stream: `enqueue` runs
 * `calls` times while recording (e.g. once per rotating weight copy), the stream is replayed until
 * a batch takes ≥ `minMs` (after ≥ 500 ms of warm-up replays), and the host clock runs from
 * submit to completion. The median of
 * `batches` batches, per call. Dawn quantises timestamp queries (65.5 µs steps seen on the H100),
 * too coarse for decode kernels, so replays are the honest clock here.
 */
export async function timeGpu(
  backend: WebGpuBackend,
  enqueue: (rep: number) => void,
  calls = 1,
  minMs = 40,
  batches = 7,
): Promise<number> {
  const stream = backend.record(() => {
    for (let i = 0; i < calls; i++) enqueue(i);
  });
  try {
    const batch = async (times: number) => {
      stream.replay(times);
      const t0 = performance.now();
      await backend.flush();
      return performance.now() - t0;
    };
    // warm-up: at least 500 ms of replays, so clocks leave their idle state before anything counts
    // (150 ms was not always enough after a spot check's host-side float64 reference: 3-5× outliers)
    let one = await batch(1);
    for (let warmed = one; warmed < 500; ) {
      const n = Math.max(1, Math.ceil(30 / Math.max(one, 0.01)));
      const ms = await batch(n);
      warmed += ms;
      one = ms / n;
    }
    const times = Math.max(1, Math.min(2000, Math.ceil(minMs / Math.max(one, 0.01))));
    const per: number[] = [];
    for (let b = 0; b < batches; b++) per.push((await batch(times)) / (times * calls));
    return median(per);
  } finally {
    stream.destroy();
  }
}

/** Fills a tensor on the GPU with uniform values in [-scale, scale) (uploads are slow through Dawn; data must not be zeros). */
export function fillRandom(backend: WebGpuBackend, t: Tensor, seed: number, scale = 1): void {
  const dtype = t.dtype as DType;
  const words = Math.ceil((t.shape.reduce((a, b) => a * b, 1) * (dtype === 'f32' ? 4 : 2)) / 4);
  const value = (i: string) => `(f32(hash(${i} * 2654435761u + seed) >> 8u) / 16777216.0 * 2.0 - 1.0) * scale`;
  const store =
    dtype === 'f32'
      ? `buf[w] = bitcast<u32>(${value('w')});`
      : dtype === 'f16'
        ? `buf[w] = pack2x16float(vec2<f32>(${value('2u * w')}, ${value('2u * w + 1u')}));`
        : `buf[w] = (bitcast<u32>(${value('2u * w')}) >> 16u) | (bitcast<u32>(${value('2u * w + 1u')}) & 0xffff0000u);`;
  const wgsl = `@group(0) @binding(0) var<storage, read_write> buf: array<u32>;
struct U { w: array<vec4<u32>, 1> }
@group(0) @binding(1) var<uniform> u: U;
fn hash(x: u32) -> u32 { var h = x ^ (x >> 16u); h *= 0x7feb352du; h ^= h >> 15u; h *= 0x846ca68bu; return h ^ (h >> 16u); }
@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = gid.x + gid.y * nwg.x * 256u;
  if (w >= u.w[0].x) { return; }
  let seed = u.w[0].y;
  let scale = bitcast<f32>(u.w[0].z);
  ${store}
}`;
  const groups = Math.ceil(words / 256);
  const y = Math.ceil(groups / 65535);
  const f = new Float32Array([scale]);
  backend.runProgram(
    { wgsl, entryPoint: 'fill', workgroups: [Math.ceil(groups / y), y, 1] },
    [t],
    new Uint32Array([words, seed >>> 0, new Uint32Array(f.buffer)[0]!, 0]),
  );
}

/** A peer's figures from bench/anchors/*.py, usable only when measured in this run on this card. */
export interface Anchors {
  cases: Record<string, number>;
  /** Why none of its figures may be used (null when they may). */
  whyNull: string | null;
}

/**
 * The run this process belongs to: a driver (bench/run-all.ts, bench/run-h100.sh) sets
 * BENCH_RUN_ID once and runs the peer scripts and our benches under it; the peer scripts write it
 * into their JSON. A file from another run, another card or no run at all is never an anchor.
 */
export function runId(): string | null {
  return process.env.BENCH_RUN_ID || null;
}

/** Anchors written by bench/anchors/*.py: `{ card, runId, cases: { [case]: value } }`. */
export function readAnchors(path: string | undefined, card: string): Anchors {
  const none = (why: string): Anchors => ({ cases: {}, whyNull: why });
  if (!path) return none('no peer measured in this run (no anchor file given)');
  if (!existsSync(path))
    return none(`the peer's file ${basename(path)} was not written in this run (see the run's log)`);
  const doc = JSON.parse(readFileSync(path, 'utf8')) as {
    card?: string;
    runId?: string | null;
    cases?: Record<string, number>;
  };
  const ours = runId();
  if (!ours) return none('BENCH_RUN_ID unset: the peer cannot be shown to come from this run');
  if (doc.runId !== ours)
    return none(`the peer's figures in ${path} come from run ${doc.runId ?? 'unknown'}, not this run (${ours})`);
  if (!doc.card || cardShort(doc.card) !== cardShort(card))
    return none(`the peer ran on ${doc.card ?? 'an unknown card'}, this run on ${card}`);
  return { cases: doc.cases ?? {}, whyNull: null };
}

/** One anchor figure, or null with the reason. */
export function anchorOf(anchors: Anchors, key: string): { value: number | null; why: string | null } {
  if (anchors.whyNull) return { value: null, why: anchors.whyNull };
  const v = anchors.cases[key];
  return v === undefined || !Number.isFinite(v)
    ? { value: null, why: `the peer has no figure for '${key}' in this run` }
    : { value: v, why: null };
}

function fmt(x: number | null, digits = 3): string {
  if (x === null || Number.isNaN(x)) return '—';
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(digits);
}

/**
 * Writes the JSON and prints the table (ours, anchor, ratio, fraction of the limit). Refuses,
 * exiting 1 with nothing written, without the bench's passed check, or with a row whose anchor
 * is missing without a reason.
 */
export function writeResults(
  bench: string,
  card: string,
  rows: readonly BenchRow[],
  notes: string,
  verified: Verified,
): string {
  if (!isVerified(verified) || verified.bench !== bench)
    fail(`${bench}: results offered without this bench's passed check`);
  const unexplained = rows.filter((r) => r.anchor === null && !r.anchorWhyNull);
  if (unexplained.length)
    fail(
      `${bench}: rows without an anchor and without anchorWhyNull: ${unexplained.map((r) => `${r.case} ${r.metric}`).join('; ')}`,
    );
  const bad = rows.filter((r) => !Number.isFinite(r.ours));
  if (bad.length)
    fail(`${bench}: rows whose own figure is not a number: ${bad.map((r) => `${r.case} ${r.metric}`).join('; ')}`);
  const date = new Date().toISOString().slice(0, 10);
  const doc = { bench, card, date, commit: commitHash(), notes, checks: verified.checks, rows };
  const dir = process.env.BENCH_OUT ?? join('bench', 'results');
  mkdirSync(dir, { recursive: true });
  // BENCH_TAG names a second result of the same bench, day and card (e.g. a new schedule measured the same day)
  const tag = process.env.BENCH_TAG ? `-${process.env.BENCH_TAG}` : '';
  const file = join(dir, `${bench}-${date}${tag}-${cardShort(card)}.json`);
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  const header = ['case', 'metric', 'ours', 'anchor', 'ratio', 'of limit'];
  const lines = rows.map((r) => [
    r.case,
    r.metric,
    fmt(r.ours),
    r.anchor === null ? '—' : `${fmt(r.anchor)} (${r.anchorName})`,
    fmt(r.ratio),
    r.limit ? `${(100 * (r.higherIsBetter ? r.ours / r.limit : r.limit / r.ours)).toFixed(0)}% of ${r.limitName}` : '—',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const pr = (l: string[]) => console.log(l.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log(`\n${bench} on ${card} (${date}, ${doc.commit})`);
  pr(header);
  for (const l of lines) pr(l);
  console.log(`→ ${file}`);
  return file;
}
