/**
 * Tensor-core prefill (attention-sgmat.ts), loads: K/V tiles fetched from the page pool into
 * registers and staged into workgroup memory, the rotary transform of staged rows, and the item's
 * Q tile turned into left matrices.
 */
import { Q_PASS, type SgmatCtx, perSg, r } from './sgmat-context.js';

/** Chunk n of a tile's TK·DC 16-byte chunks exists for this invocation (the last round may be partial). */
const guard = (c: SgmatCtx, n: number) =>
  c.WG * (n + 1) > c.TK * c.DC ? `if (t + ${c.WG * n}u < ${c.TK * c.DC}u) ` : '';

// a tile's K fetch looks its pages up and keeps them for the V fetch of the same tile, which follows
const page = (c: SgmatCtx, n: number, kv: number) =>
  kv === 1 ? `pgs[${n}]` : `pgs[${n}] = ${c.drop('pages') ? 'j / PS' : 'u32(kv_indices[page_base + j / PS])'};`;

/** Chunk n of K (kv = 0) or V (kv = 1) of the tile at key j's row, read into `w` (zero past k1). */
function chunkLoad(c: SgmatCtx, n: number, kv: number): string {
  const { DC } = c;
  if (c.drop('fetch')) return `if (j < k1) { w = vec4<u32>(j); }`;
  if (c.drop('cached')) return `if (j < k1) { w = pool[kv_row(0u, ${kv}u, (i / ${DC}u) % PS, 0u) / 8u + i % ${DC}u]; }`;
  const pg = kv === 0 ? `pgs[${n}]` : page(c, n, 1);
  return `if (j < k1) { ${kv === 0 ? page(c, n, 0) : ''} w = pool[kv_row(${pg}, ${kv}u, j % PS, hk) / 8u + i % ${DC}u]; }`;
}

/** K (kv = 0) or V (kv = 1) of the tile starting at key kt into register array `reg`. */
export function fetchTile(c: SgmatCtx, reg: string, kv: number, kt: string): string {
  const { WG, DC } = c;
  return r(c.NL)
    .map(
      (n) => `    ${guard(c, n)}{
      let i = t + ${WG * n}u; let j = ${kt} + i / ${DC}u;
      var w = vec4<u32>(0u);
      ${chunkLoad(c, n, kv)}
      ${reg}[${n}] = w;
    }`,
    )
    .join('\n');
}

/** Register array `reg` into the padded rows of kvs from element `base`. */
export function stageTile(c: SgmatCtx, reg: string, base: number): string {
  const { WG, DC, LDK } = c;
  return r(c.NL)
    .map(
      (n) =>
        `    ${guard(c, n)}{ let i = t + ${WG * n}u; kvs[${base}u + (i / ${DC}u) * ${LDK}u + i % ${DC}u] = ${reg}[${n}]; }`,
    )
    .join('\n');
}

/** rows × D/4 words of a staged tile rewritten through qk_transform: word w pairs with word w + D/4. */
export function transformRows(c: SgmatCtx, rows: number, base: string, pos: string, isKey: boolean): string {
  const { D, LDK, WG } = c;
  return `for (var i = t; i < ${rows * (D / 4)}u; i += ${WG}u) {
      let row = i / ${D / 4}u; let wd = i % ${D / 4}u; let wp = wd + ${D / 4}u; let d0 = 2u * wd;
      let pos = ${pos};
      let ia = ${base} + row * ${LDK}u + wd / 4u; let ib = ${base} + row * ${LDK}u + wp / 4u;
      let a = unpack2x16float(kvs[ia][wd % 4u]); let b = unpack2x16float(kvs[ib][wp % 4u]);
      let na = vec2<f32>(qk_transform(a.x, b.x, d0, pos, ${isKey}), qk_transform(a.y, b.y, d0 + 1u, pos, ${isKey}));
      let nb = vec2<f32>(qk_transform(b.x, a.x, d0 + ${D / 2}u, pos, ${isKey}), qk_transform(b.y, a.y, d0 + ${D / 2 + 1}u, pos, ${isKey}));
      kvs[ia][wd % 4u] = pack2x16float(na); kvs[ib][wp % 4u] = pack2x16float(nb);
    }`;
}

// subgroups of Q pass `pass` load their left matrices from the staged rows
function qLoad(c: SgmatCtx, pass: number): string {
  const { mo, LDK } = c;
  return perSg(c, (g) =>
    c
      .qkRowBlocks(g)
      .map((rb, i) =>
        Math.floor((rb * 16) / Q_PASS) !== pass
          ? ''
          : r(c.DB)
              .map(
                (db) =>
                  `        q${i}_${db} = ${mo.load('left', 'kvs', (rb * 16 - pass * Q_PASS) * LDK + db * 2, LDK, false, `q${i}_${db}`)};`,
              )
              .join('\n'),
      )
      .join('\n'),
  );
}

const qRow = (c: SgmatCtx, pass: number, i: string) => `let rr = r0 + ${pass * Q_PASS}u + ${i} / ${c.DC}u;`;
const qWord = (c: SgmatCtx, i: string) =>
  `if (rr < r1) { w = q[((q_start + rr / GRP) * HQ + hk * GRP + rr % GRP) * ${c.DC}u + ${i} % ${c.DC}u]; }`;

// the staged Q pass (rotated where the variant transforms Q) → left matrices
function qPassTail(c: SgmatCtx, pass: number): string {
  return `    workgroupBarrier();
    ${c.v.transform ? `${transformRows(c, Q_PASS, '0u', `kv_len - q_len + i32((r0 + ${pass * Q_PASS}u + row) / GRP)`, false)}\n    workgroupBarrier();` : ''}
    ${qLoad(c, pass)}`;
}

/** The Q tile → left matrices (rows past r1 are zero), Q_PASS rows at a time through the K/V buffer. */
export function qPrologue(c: SgmatCtx): string {
  const { DC, LDK, WG } = c;
  return `// the Q tile → left matrices (rows past r1 are zero), ${Q_PASS} rows at a time through the K/V buffer
${r(c.R / Q_PASS)
  .map(
    (pass) => `    ${pass > 0 ? 'workgroupBarrier();' : ''}
    for (var i = t; i < ${Q_PASS * DC}u; i += ${WG}u) {
      ${qRow(c, pass, 'i')}
      var w = vec4<u32>(0u);
      ${qWord(c, 'i')}
      kvs[(i / ${DC}u) * ${LDK}u + i % ${DC}u] = w;
    }
${qPassTail(c, pass)}`,
  )
  .join('\n')}`;
}

/**
 * qAhead: every Q pass's loads and the first K tile's are issued together, so the item start waits
 * on one global load latency instead of one per Q pass and one for K (a barrier waits for the loads
 * before it).
 */
export function qPrologueAhead(c: SgmatCtx): string {
  const { DC, LDK, WG, R } = c;
  const NQ = Math.ceil((Q_PASS * DC) / WG);
  const qGuard = (n: number) => (WG * (n + 1) > Q_PASS * DC ? `if (t + ${WG * n}u < ${Q_PASS * DC}u) ` : '');
  return `// the Q tile → left matrices (rows past r1 are zero): all of it loaded into registers with the first K tile,
    // then ${Q_PASS} rows at a time through the K/V buffer
    var qw: array<vec4<u32>, ${(R / Q_PASS) * NQ}>;
${r(R / Q_PASS)
  .flatMap((pass) =>
    r(NQ).map(
      (n) =>
        `    ${qGuard(n)}{ let i = t + ${WG * n}u; ${qRow(c, pass, 'i')} var w = vec4<u32>(0u); ${qWord(c, 'i')} qw[${pass * NQ + n}] = w; }`,
    ),
  )
  .join('\n')}
${fetchTile(c, 'rk', 0, c.pp ? 'k_first' : 'k0')}
${r(R / Q_PASS)
  .map(
    (pass) => `    ${pass > 0 ? 'workgroupBarrier();' : ''}
${r(NQ)
  .map(
    (n) =>
      `    ${qGuard(n)}{ let i = t + ${WG * n}u; kvs[(i / ${DC}u) * ${LDK}u + i % ${DC}u] = qw[${pass * NQ + n}]; }`,
  )
  .join('\n')}
${qPassTail(c, pass)}`,
  )
  .join('\n')}`;
}
