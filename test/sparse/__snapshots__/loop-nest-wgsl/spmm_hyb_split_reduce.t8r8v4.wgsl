// loop program spmm_hyb_split_reduce
@group(0) @binding(0) var<storage, read> idx: array<i32>;
@group(0) @binding(1) var<storage, read> part: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
struct TessDims { d: array<vec4<u32>, 2> }
@group(0) @binding(3) var<uniform> tess_dims: TessDims;
var<workgroup> tess_red0: array<vec4<f32>, 64>;
fn tess_fdiv(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0)));
}
fn tess_fmod(a: i32, b: i32) -> i32 { return a - b * tess_fdiv(a, b); }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let v_f = i32(tess_dims.d[0][0]);
  let v_m = i32(tess_dims.d[0][1]);
  let v_ni = i32(tess_dims.d[0][2]);
  let v_sgids = i32(tess_dims.d[0][3]);
  let v_sgrows = i32(tess_dims.d[1][0]);
  let v_sgrseg = i32(tess_dims.d[1][1]);
  let v_sgsegs = i32(tess_dims.d[1][2]);
  let tess_g = wid.x + wid.y * nwg.x;
  {
    let v_ib = i32(tess_g) - 0 + 0;
    if (v_ib >= 0 && v_ib < ((v_sgrows + 0) / 1)) {
      let v_ir = i32((lid / 64u) % 1u);
      {
        let tess_p0_0 = (((v_ib * 1) + v_ir) < v_sgrows);
        {
          let v_row = idx[u32((v_sgids + ((v_ib * 1) + v_ir)))];
          let v_lo = idx[u32((v_sgrseg + ((v_ib * 1) + v_ir)))];
          let v_hi = idx[u32(((v_sgrseg + ((v_ib * 1) + v_ir)) + 1))];
          for (var v_cs = 0; v_cs < (((v_f / 4) + 7) / 8); v_cs++) {
            let v_t = i32((lid / 8u) % 8u);
            {
              let tess_p1_1 = (((v_cs * 8) + v_t) < (v_f / 4));
              {
                // lanes of 'cl' as vec4
                var v_acc = vec4<f32>(0.0);
                let v_eg = i32((lid / 1u) % 8u);
                let tess_base_acc = v_acc;
                v_acc = vec4<f32>(0.0);
                {
                  for (var v_eso = 0; v_eso < tess_fdiv((tess_fdiv(((v_hi - v_lo) + 7), 8) + 3), 4); v_eso++) {
                    for (var v_eu = 0; v_eu < 4; v_eu++) {
                      if (((v_eso * 4) + v_eu) < tess_fdiv(((v_hi - v_lo) + 7), 8)) {
                        if (((v_lo + (((v_eso * 4) + v_eu) * 8)) + v_eg) < v_hi) {
                          v_acc = (v_acc + part[u32((((v_lo + (((v_eso * 4) + v_eu) * 8)) + v_eg) * (v_f) + (((v_cs * 8) + v_t) * 4))) / 4u]);
                        }
                      }
                    }
                  }
                }
                tess_red0[lid] = v_acc;
                workgroupBarrier();
                if (v_eg < 4) { tess_red0[lid] = tess_red0[lid] + tess_red0[lid + 4u]; }
                workgroupBarrier();
                if (v_eg < 2) { tess_red0[lid] = tess_red0[lid] + tess_red0[lid + 2u]; }
                workgroupBarrier();
                if (v_eg < 1) { tess_red0[lid] = tess_red0[lid] + tess_red0[lid + 1u]; }
                workgroupBarrier();
                v_acc = tess_base_acc + tess_red0[lid - u32(v_eg) * 1u];
                workgroupBarrier();
                if (tess_p0_0 && tess_p1_1 && ((lid / 1u) % 8u == 0u)) { y[u32((v_row * (v_f) + (((v_cs * 8) + v_t) * 4))) / 4u] = v_acc; }
              }
            }
          }
        }
      }
    }
  }
}
