// loop program spmm_bsr4
@group(0) @binding(0) var<storage, read> indptr: array<i32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read> blocks: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
struct TessDims { d: array<vec4<u32>, 1> }
@group(0) @binding(5) var<uniform> tess_dims: TessDims;
fn tess_fdiv(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0)));
}
fn tess_fmod(a: i32, b: i32) -> i32 { return a - b * tess_fdiv(a, b); }
@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let v_f = i32(tess_dims.d[0][0]);
  let v_k = i32(tess_dims.d[0][1]);
  let v_m = i32(tess_dims.d[0][2]);
  let v_nb = i32(tess_dims.d[0][3]);
  let tess_g = wid.x + wid.y * nwg.x;
  {
    let v_ib = i32(tess_g) - 0 + 0;
    if (v_ib >= 0 && v_ib < ((v_m + 7) / 8)) {
      let v_ir = i32((lid / 4u) % 8u);
      {
        if (((v_ib * 8) + v_ir) < v_m) {
          let v_br = (((v_ib * 8) + v_ir) / 4);
          let v_ii = (((v_ib * 8) + v_ir) % 4);
          let v_lo = indptr[u32(v_br)];
          let v_hi = indptr[u32((v_br + 1))];
          let v_t = i32((lid / 1u) % 4u);
          {
            for (var v_cs = 0; (((v_cs * 4) + v_t) < v_f); v_cs++) {
              var v_acc = 0.0;
              for (var v_s = v_lo; v_s < v_hi; v_s++) {
                let v_c0 = (indices[u32(v_s)] * 4);
                for (var v_jj = 0; v_jj < 4; v_jj++) {
                  let v_col = (v_c0 + v_jj);
                  if (v_k <= v_col) {
                    break;
                  }
                  v_acc = (v_acc + (blocks[u32(((v_s * (4) + v_ii) * (4) + v_jj))] * x[u32((v_col * (v_f) + ((v_cs * 4) + v_t)))]));
                }
              }
              y[u32((((v_ib * 8) + v_ir) * (v_f) + ((v_cs * 4) + v_t)))] = v_acc;
            }
          }
        }
      }
    }
  }
}
