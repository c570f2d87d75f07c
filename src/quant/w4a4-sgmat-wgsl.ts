/**
 * W4A4 GEMM on integer tensor cores (Atom's kernel, issue 22) through i8 × i8 → i32 subgroup
 * matrices of 16 × 16 × 32, for batches from 16 rows up (layout in w4a4-format.ts).
 *
 * A workgroup of S subgroups owns BN = 16 · S weight rows and BM = 16 · MT activation rows and walks
 * its slice of K one quantization group (128 channels) at a time:
 * - stage: the group's activation codes (already int8 lanes) and weight codes go to workgroup
 *   memory as int8 rows, the 4-bit weights widened to int8 lanes on the way (the INT8 outlier
 *   group is copied as it is: the same loop serves both), together with the group's scales. The
 *   codes and scales come through registers loaded one group ahead, so the next group's loads are in flight
 *   while this one is multiplied and scaled (no second buffer, no extra barrier);
 * - multiply: subgroup s multiplies the BM × 128 activations by its own 16 weight rows, four K steps
 *   of 32, into MT i32 result matrices that start from zero each group, so the group's dot products
 *   are exact integers (|Σ| ≤ 128 · 127 · 127 < 2³¹);
 * - scale: the i32 matrices go through workgroup memory and each lane adds its elements, times
 *   scale_x · scale_w of the group, to f32 accumulators (the per-group dequantization of Atom's
 *   epilogue: scales differ per row and per group, so they cannot ride inside the integer product).
 * Where the matrix has few tiles, K is split into slices of whole groups across workgroups and a
 * second pass adds the slices (batchedSplitSumWgsl), as the weight-only batched GEMM does.
 *
 * Offsets and strides of 8-bit subgroup-matrix loads: the shader scalar type of i8 is i32, so the
 * staged codes live in array<i32>; whether a device counts the load's offset and stride in i32
 * words of that array or in i8 components is what the self-test found (`packedUnits`), and the
 * generator writes whichever it is.
 */
import type { Capabilities, SubgroupMatrixConfig } from '../backends/capabilities.js';

/** Subgroups of a workgroup, each owning 16 weight rows. */
const S = 4;
const FM = 16;
const FN = 16;
const FK = 32;
/** Staged row stride in i32 words: 128 int8 codes and one 16-byte pad against bank conflicts. */
const LD = 36;
export const W4A4_SGMAT_BN = S * FN;
/** Workgroups the K split aims for (a few per multiprocessor of a large GPU), and the fewest groups a slice keeps. */
const TARGET_WORKGROUPS = 512;
const MIN_GROUPS = 4;

export interface W4a4SgmatTile {
  /** 16-row activation matrices per workgroup (BM = 16 · MT). */
  readonly MT: number;
  /** Result matrices a subgroup parks in workgroup memory at once: MT where it fits, else 1. */
  readonly CS: number;
  /** Lanes of a subgroup. */
  readonly SG: number;
  /** What load offsets and strides count: i32 words of the array or i8 components. */
  readonly unit: 'word' | 'component';
}

export const w4a4SgmatThreads = (t: W4a4SgmatTile): number => S * t.SG;
const sharedBytes = (MT: number, CS: number) =>
  (FM * MT + S * FN) * LD * 4 + S * CS * FM * FN * 4 + (FM * MT + S * FN) * 4;

/** The i8 × i8 → i32 16 × 16 × 32 configuration this kernel is written for, if the device has it. */
export function i8MatrixConfig(caps: Pick<Capabilities, 'subgroupMatrix'>): SubgroupMatrixConfig | undefined {
  return caps.subgroupMatrix.find(
    (c) => c.componentType === 'i8' && c.resultComponentType === 'i32' && c.M === FM && c.N === FN && c.K === FK,
  );
}

/** The tile for M rows on this device, or why there is none. */
export function w4a4SgmatTile(
  m: number,
  caps: Pick<
    Capabilities,
    | 'subgroupMatrix'
    | 'subgroupMaxSize'
    | 'subgroupMinSize'
    | 'maxComputeWorkgroupStorageSize'
    | 'maxComputeInvocationsPerWorkgroup'
  >,
): W4a4SgmatTile | string {
  const cfg = i8MatrixConfig(caps);
  if (!cfg) return 'the device has no i8×i8→i32 16x16x32 subgroup matrices';
  const SG = caps.subgroupMaxSize;
  if (!SG || caps.subgroupMinSize !== SG || (FM * FN) % SG !== 0)
    return `subgroup size ${caps.subgroupMinSize}–${caps.subgroupMaxSize} is not one fixed divisor of 256`;
  if (S * SG > caps.maxComputeInvocationsPerWorkgroup) return `${S * SG} invocations exceed the device's limit`;
  const MT = Math.min(4, Math.ceil(m / FM));
  for (const CS of [MT, 1])
    if (sharedBytes(MT, CS) <= caps.maxComputeWorkgroupStorageSize)
      return { MT, CS, SG, unit: cfg.packedUnits ?? 'word' };
  return `the tile needs ${sharedBytes(MT, 1)} bytes of workgroup storage`;
}

/** Groups of 128 channels per K slice: enough slices that a matrix with few tiles still fills a large GPU. */
export function w4a4SgmatSplit(t: W4a4SgmatTile, m: number, n: number, k: number): { split: number; gps: number } {
  const tiles = Math.ceil(m / (FM * t.MT)) * Math.ceil(n / W4A4_SGMAT_BN);
  const G = k / 128;
  const want = Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.floor(G / MIN_GROUPS)));
  const gps = Math.ceil(G / want);
  return { split: Math.ceil(G / gps), gps };
}

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * A group's codes and scales through registers: `load(gg)` reads group gg's BM + BN scales,
 * BM × 128 activation codes and BN × 128 weight codes (64 bytes a row for a 4-bit group, 128 for the INT8 outlier group) as
 * 16-byte words, rows past M or N as zeros; `store` writes them into the staged int8 rows of
 * group g, widening 4-bit words (16 bytes hold 32 codes: word j has values 8j..8j+3 in its low
 * nibbles and 8j+4..8j+7 in its high ones).
 */
function registerStaging(BM: number, T: number) {
  const BN = W4A4_SGMAT_BN;
  const XP = Math.ceil((BM * 8) / T);
  const W4 = Math.ceil((BN * 4) / T);
  const W8 = Math.ceil((BN * 8) / T);
  const guard = (i: number, n: number) => (T * (i + 1) > n ? `if (lid + ${T * i}u < ${n}u) ` : '');
  const at = (i: number, per: number) => `let e = lid + ${T * i}u; let row = e / ${per}u; let c = e % ${per}u;`;
  const words = (arr: string, o: string, v: string) =>
    ['x', 'y', 'z', 'w'].map((f, j) => `${arr}[${o} + ${j}u] = bitcast<i32>(${v}.${f});`).join(' ');
  // one scale a thread: activation rows' scales first, then the weight rows'; rows past M or N as 0
  const SP = Math.ceil((BM + BN) / T);
  const regs = [
    ...r(XP).map((i) => `  var rx${i}: vec4<u32>;`),
    ...r(W8).map((i) => `  var rw${i}: vec4<u32>;`),
    ...r(SP).map((i) => `  var rs${i}: f32;`),
  ].join('\n');
  const scaleLoad = (i: number) =>
    `    ${guard(i, BM + BN)}{ let e = lid + ${T * i}u; if (e < ${BM}u) { rs${i} = select(0.0, xs[min(m0 + e, u.m - 1u) * G + gg], m0 + e < u.m); } else { let row = e - ${BM}u; rs${i} = select(0.0, scaleW(min(n0 + row, u.n - 1u), gg), n0 + row < u.n); } }`;
  const scaleStore = (i: number) =>
    `    ${guard(i, BM + BN)}{ let e = lid + ${T * i}u; if (e < ${BM}u) { sxs[e] = rs${i}; } else { sws[e - ${BM}u] = rs${i}; } }`;
  const load = (gg: string) => `{
    let gg = ${gg};
${r(SP).map(scaleLoad).join('\n')}
${r(XP)
  .map(
    (i) =>
      `    ${guard(i, BM * 8)}{ ${at(i, 8)} rx${i} = vec4<u32>(0u); if (m0 + row < u.m) { rx${i} = xq[((m0 + row) * u.k + gg * 128u) / 16u + c]; } }`,
  )
  .join('\n')}
    if (gg + 1u < G) {
${r(W4)
  .map(
    (i) =>
      `      ${guard(i, BN * 4)}{ ${at(i, 4)} rw${i} = vec4<u32>(0u); if (n0 + row < u.n) { rw${i} = wq[(n0 + row) * ((u.k - 128u) / 32u) + gg * 4u + c]; } }`,
  )
  .join('\n')}
    } else {
${r(W8)
  .map(
    (i) =>
      `      ${guard(i, BN * 8)}{ ${at(i, 8)} rw${i} = vec4<u32>(0u); if (n0 + row < u.n) { rw${i} = wq[codes8At() / 16u + (n0 + row) * 8u + c]; } }`,
  )
  .join('\n')}
    }
  }`;
  const store = `${r(SP).map(scaleStore).join('\n')}
${r(XP)
  .map((i) => `    ${guard(i, BM * 8)}{ ${at(i, 8)} let o = row * ${LD}u + c * 4u; ${words('Xs', 'o', `rx${i}`)} }`)
  .join('\n')}
    if (g + 1u < G) {
${r(W4)
  .map(
    (i) =>
      `      ${guard(i, BN * 4)}{ ${at(i, 4)} let o = row * ${LD}u + c * 8u; let v = rw${i}; Ws[o] = lo4(v.x); Ws[o + 1u] = hi4(v.x); Ws[o + 2u] = lo4(v.y); Ws[o + 3u] = hi4(v.y); Ws[o + 4u] = lo4(v.z); Ws[o + 5u] = hi4(v.z); Ws[o + 6u] = lo4(v.w); Ws[o + 7u] = hi4(v.w); }`,
  )
  .join('\n')}
    } else {
${r(W8)
  .map((i) => `      ${guard(i, BN * 8)}{ ${at(i, 8)} let o = row * ${LD}u + c * 4u; ${words('Ws', 'o', `rw${i}`)} }`)
  .join('\n')}
    }`;
  return { regs, load, store };
}

/** The tile's sizes as the generated WGSL uses them. */
interface W4a4Geometry {
  readonly MT: number;
  readonly CS: number;
  readonly SG: number;
  readonly BM: number;
  readonly BN: number;
  /** Invocations per workgroup. */
  readonly T: number;
  /** Result elements per lane in the scaling step. */
  readonly EPL: number;
  /** Load units per staged i32 word. */
  readonly U: number;
}

function w4a4Geometry(t: W4a4SgmatTile): W4a4Geometry {
  const BM = FM * t.MT;
  return {
    MT: t.MT,
    CS: t.CS,
    SG: t.SG,
    BM,
    BN: W4A4_SGMAT_BN,
    T: S * t.SG,
    EPL: (FM * FN) / t.SG,
    U: t.unit === 'word' ? 1 : 4,
  };
}

const W4A4_RESULT = `subgroup_matrix_result<i32, ${FN}, ${FM}>`;

/**
 * A switch over the subgroups with `body(s)` in each case. Matrix offsets are compile-time
 * constants (the subgroup by this switch): Dawn predicates a subgroup-matrix load or store whose
 * offset it cannot check statically.
 */
function bySubgroup(body: (s: number) => string): string {
  return `    switch (sg) {
${r(S)
  .map((s) => `      case ${s}u: {\n${body(s)}\n      }`)
  .join('\n')}
      default: {}
    }`;
}

/** Subgroup s's K step ks of the group: 32 codes, 8 words along a staged row. */
function kStepWgsl({ MT, U }: W4a4Geometry, s: number, ks: number): string {
  const left = `subgroup_matrix_left<i8, ${FK}, ${FM}>`;
  const right = `subgroup_matrix_right<i8, ${FN}, ${FK}>`;
  return `        {
          let q = subgroupMatrixLoad<${right}, col_major>(&Ws, ${(s * FN * LD + ks * 8) * U}u, ${LD * U}u);
${r(MT)
  .map(
    (i) =>
      `          c${i} = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<${left}, row_major>(&Xs, ${(i * FM * LD + ks * 8) * U}u, ${LD * U}u), q, c${i});`,
  )
  .join('\n')}
        }`;
}

/** Result matrices i0 .. i0 + CS − 1 through workgroup memory into the f32 accumulators, scaled. */
function scaleWgsl({ CS, EPL }: W4a4Geometry, i0: number): string {
  return `${bySubgroup((s) =>
    r(CS)
      .map(
        (c) => `        subgroupMatrixStore<row_major>(&Cs, ${s * CS * FM * FN + c * FM * FN}u, c${i0 + c}, ${FN}u);`,
      )
      .join('\n'),
  )}
    workgroupBarrier();
    for (var e = 0u; e < ${CS * EPL}u; e++) {
      let i = e / ${EPL}u;
      let el = lane * ${EPL}u + e % ${EPL}u;
      acc[${i0 * EPL}u + e] += f32(Cs[sg * ${CS * FM * FN}u + i * ${FM * FN}u + el]) * (sxs[${i0 * FM}u + i * ${FM}u + el / ${FN}u] * sws[sg * ${FN}u + el % ${FN}u]);
    }
    workgroupBarrier();`;
}

/** Bindings, workgroup memory and the decoding helpers. */
function declsWgsl({ BM, BN, CS }: W4a4Geometry): string {
  return `enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// tiles: row tiles × column tiles of y; gps: groups of 128 channels per K slice
struct U { m: u32, n: u32, k: u32, gx: u32, tiles: u32, gps: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> u: U;

var<workgroup> Xs: array<i32, ${BM * LD}>;
var<workgroup> Ws: array<i32, ${BN * LD}>;
var<workgroup> Cs: array<i32, ${S * CS * FM * FN}>;
var<workgroup> sxs: array<f32, ${BM}>;
var<workgroup> sws: array<f32, ${BN}>;

fn sext4(v: u32) -> u32 { return v | ((v & 0x08080808u) * 0x1eu); }
fn lo4(w: u32) -> i32 { return bitcast<i32>(sext4(w & 0x0f0f0f0fu)); }
fn hi4(w: u32) -> i32 { return bitcast<i32>(sext4((w >> 4u) & 0x0f0f0f0fu)); }
/** Byte offset of the INT8 outlier plane (a multiple of 16: K − 128 is a multiple of 128). */
fn codes8At() -> u32 { return u.n * (u.k - 128u) / 2u; }
fn scaleW(row: u32, g: u32) -> f32 {
  let b = codes8At() + u.n * 128u + 2u * (row * (u.k / 128u) + g);
  let h = unpack2x16float(wq[b >> 4u][(b >> 2u) & 3u]);
  return select(h.x, h.y, (b & 2u) != 0u);
}`;
}

export function w4a4SgmatWgsl(t: W4a4SgmatTile): string {
  const g = w4a4Geometry(t);
  const { MT, CS, SG, BM, BN, T, EPL } = g;
  const prefetch = registerStaging(BM, T);
  return /* wgsl */ `${declsWgsl(g)}

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lin = wid.x + wid.y * u.gx;
  let tile = lin % u.tiles;
  let tilesN = (u.n + ${BN - 1}u) / ${BN}u;
  let m0 = (tile / tilesN) * ${BM}u;
  let n0 = (tile % tilesN) * ${BN}u;
  // this workgroup's slice of groups; y is the slice's plane of partial sums (y itself when unsplit)
  let slice = lin / u.tiles;
  let G = u.k / 128u;
  let gb = slice * u.gps;
  let ge = min(G, gb + u.gps);
  if (m0 >= u.m || gb >= G) { return; }
  let sg = lid / ${SG}u;
  let lane = lid % ${SG}u;
  var acc: array<f32, ${MT * EPL}>;
${prefetch.regs}
${r(MT)
  .map((i) => `  var c${i} = ${W4A4_RESULT}();`)
  .join('\n')}
  // group gb's codes into registers; each turn then stores group g and loads group g + 1, whose
  // loads stay in flight while group g is multiplied and scaled
${prefetch.load('gb')}
  for (var g = gb; g < ge; g++) {
${prefetch.store}
    workgroupBarrier();
    if (g + 1u < ge) ${prefetch.load('g + 1u')}
${r(MT)
  .map((i) => `    c${i} = ${W4A4_RESULT}();`)
  .join('\n')}
${bySubgroup((s) =>
  r(128 / FK)
    .map((ks) => kStepWgsl(g, s, ks))
    .join('\n'),
)}
${r(MT / CS)
  .map((q) => scaleWgsl(g, q * CS))
  .join('\n')}
  }
  for (var e = 0u; e < ${MT * EPL}u; e++) {
    let el = lane * ${EPL}u + e % ${EPL}u;
    let m = m0 + (e / ${EPL}u) * ${FM}u + el / ${FN}u;
    let n = n0 + sg * ${FN}u + el % ${FN}u;
    if (m < u.m && n < u.n) { y[(slice * u.m + m) * u.n + n] = acc[e]; }
  }
}
`;
}
