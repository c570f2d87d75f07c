// loop program spmm_ell
@group(0) @binding(0) var<storage, read> cols: array<i32>;
@group(0) @binding(1) var<storage, read> vals: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
struct TessDims { d: array<vec4<u32>, 1> }
@group(0) @binding(4) var<uniform> tess_dims: TessDims;
fn tess_fdiv(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0)));
}
fn tess_fmod(a: i32, b: i32) -> i32 { return a - b * tess_fdiv(a, b); }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let v_f = i32(tess_dims.d[0][0]);
  let v_k = i32(tess_dims.d[0][1]);
  let v_m = i32(tess_dims.d[0][2]);
  let v_w = i32(tess_dims.d[0][3]);
  let tess_g = wid.x + wid.y * nwg.x;
  {
    let v_ib = i32(tess_g) - 0 + 0;
    if (v_ib >= 0 && v_ib < ((v_m + 7) / 8)) {
      let v_ir = i32((lid / 8u) % 8u);
      {
        if (((v_ib * 8) + v_ir) < v_m) {
          let v_t = i32((lid / 1u) % 8u);
          {
            for (var v_cs = 0; (((v_cs * 8) + v_t) < (v_f / 4)); v_cs++) {
              // lanes of 'cl' as vec4
              var v_acc = vec4<f32>(0.0);
              for (var v_s = 0; v_s < v_w; v_s++) {
                let v_col = cols[u32((((v_ib * 8) + v_ir) * (v_w) + v_s))];
                if (v_col < 0) {
                  break;
                }
                v_acc = (v_acc + (vec4<f32>(vals[u32((((v_ib * 8) + v_ir) * (v_w) + v_s))]) * x[u32((v_col * (v_f) + (((v_cs * 8) + v_t) * 4))) / 4u]));
              }
              y[u32((((v_ib * 8) + v_ir) * (v_f) + (((v_cs * 8) + v_t) * 4))) / 4u] = v_acc;
            }
          }
        }
      }
    }
  }
}
