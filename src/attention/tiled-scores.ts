/**
 * Scores and base-2 online softmax of the tiled f32 template (`attention-wgsl.ts`), per key tile
 * staged in workgroup memory: `ss` receives the tile's probabilities, `m_sh`/`l_sh` the running row
 * max and sum, `a_sh` the factor that rescales the rows' accumulators.
 */
import { NEG } from './wgsl-kv.js';
import { WORKGROUP } from './tile-config.js';

/** Score of (row lr, key c) into `s`: masked keys and rows past r1 stay at NEG; logit hooks apply before the base-2 scaling. */
function scoreWgsl(mask: string, logits: string): string {
  return `let lr = i / TK; let c = i % TK; let r = r0 + lr; let j = kt + c;
        var s = ${NEG};
        if (r < r1 && j < k1) {
          let qi = i32(r / GRP);
          let head = hk * GRP + r % GRP;
          let qpos = kv_len - q_len + qi;
          let kpos = i32(j);
          if (${mask}) {
            var qk = 0.0;
            for (var e = 0u; e < L_DV4; e++) { qk += dot(qs[lr * RS + e], ks[c * RS + e]); }
            s = qk * SCALE;
            ${logits}
            s = s * LOG2E;
          }
        }`;
}

/** Any workgroup shape: threads stride over the tile's scores, then one thread per row scans its row. */
function serialScores(mask: string, logits: string): string {
  return `      for (var i = t; i < TQ * TK; i += ${WORKGROUP}u) {
        ${scoreWgsl(mask, logits)}
        ss[i] = s;
      }
      workgroupBarrier();
      if (t < TQ) {
        let m_old = m_sh[t];
        var mx = m_old;
        for (var c = 0u; c < L_TK; c++) { mx = max(mx, ss[t * TK + c]); }
        var alpha = 1.0;
        var sum = 0.0;
        if (mx > ${NEG}) {
          alpha = exp2(m_old - mx);
          for (var c = 0u; c < L_TK; c++) {
            let sc = ss[t * TK + c];
            var pr = 0.0;
            if (sc > ${NEG}) { pr = exp2(sc - mx); }
            ss[t * TK + c] = pr;
            sum += pr;
          }
        } else {
          for (var c = 0u; c < L_TK; c++) { ss[t * TK + c] = 0.0; }
        }
        m_sh[t] = mx;
        l_sh[t] = l_sh[t] * alpha + sum;
        a_sh[t] = alpha;
      }
      workgroupBarrier();
`;
}

/**
 * One score per thread: a key tile's row is one subgroup, so the row max and sum are subgroup
 * reductions instead of a serial scan (decode's hot loop).
 */
function subgroupScores(mask: string, logits: string): string {
  return `{
        let i = t;
        ${scoreWgsl(mask, logits)}
        let m_old = m_sh[lr];
        let mx = max(m_old, subgroupMax(s));
        var pr = 0.0;
        if (mx > ${NEG} && s > ${NEG}) { pr = exp2(s - mx); }
        let sum = subgroupAdd(pr);
        ss[i] = pr;
        workgroupBarrier();
        if (c == 0u) {
          var alpha = 1.0;
          if (mx > ${NEG}) { alpha = exp2(m_old - mx); }
          m_sh[lr] = mx;
          l_sh[lr] = l_sh[lr] * alpha + sum;
          a_sh[lr] = alpha;
        }
        workgroupBarrier();
      }
`;
}

/** The key tile's scores and softmax update; `subgroup` needs subgroups of TK lanes with TQ·TK = the workgroup. */
export function tileScores(subgroup: boolean, mask: string, logits: string): string {
  return subgroup ? subgroupScores(mask, logits) : serialScores(mask, logits);
}
