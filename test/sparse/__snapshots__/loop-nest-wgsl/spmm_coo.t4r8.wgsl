// loop program spmm_coo
@group(0) @binding(0) var<storage, read> rows: array<i32>;
@group(0) @binding(1) var<storage, read> cols: array<i32>;
@group(0) @binding(2) var<storage, read> vals: array<f32>;
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
  let v_nnz = i32(tess_dims.d[0][3]);
  let tess_g = wid.x + wid.y * nwg.x;
  {
    let v_ib = i32(tess_g) - 0 + 0;
    if (v_ib >= 0 && v_ib < ((v_m + 7) / 8)) {
      let v_ir = i32((lid / 4u) % 8u);
      {
        if (((v_ib * 8) + v_ir) < v_m) {
          var v_lo = 0;
          var v_hi = v_nnz;
          loop {
            if (!(v_lo < v_hi)) { break; }
            let v_mid = ((v_lo + v_hi) / 2);
            if (rows[u32(v_mid)] < ((v_ib * 8) + v_ir)) {
              v_lo = (v_mid + 1);
            } else {
              v_hi = v_mid;
            }
          }
          let v_t = i32((lid / 1u) % 4u);
          {
            for (var v_cs = 0; (((v_cs * 4) + v_t) < v_f); v_cs++) {
              var v_acc = 0.0;
              for (var v_e = v_lo; v_e < v_nnz; v_e++) {
                if (((v_ib * 8) + v_ir) < rows[u32(v_e)]) {
                  break;
                }
                v_acc = (v_acc + (vals[u32(v_e)] * x[u32((cols[u32(v_e)] * (v_f) + ((v_cs * 4) + v_t)))]));
              }
              y[u32((((v_ib * 8) + v_ir) * (v_f) + ((v_cs * 4) + v_t)))] = v_acc;
            }
          }
        }
      }
    }
  }
}
