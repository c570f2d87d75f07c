// loop program sddmm_csr
@group(0) @binding(0) var<storage, read> indptr: array<i32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
struct TessDims { d: array<vec4<u32>, 1> }
@group(0) @binding(5) var<uniform> tess_dims: TessDims;
fn tess_fdiv(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0)));
}
fn tess_fmod(a: i32, b: i32) -> i32 { return a - b * tess_fdiv(a, b); }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let v_d = i32(tess_dims.d[0][0]);
  let v_m = i32(tess_dims.d[0][1]);
  let v_n = i32(tess_dims.d[0][2]);
  let v_nnz = i32(tess_dims.d[0][3]);
  let tess_g = wid.x + wid.y * nwg.x;
  {
    let v_eb = i32(tess_g) - 0 + 0;
    if (v_eb >= 0 && v_eb < ((v_nnz + 63) / 64)) {
      let v_ei = i32((lid / 1u) % 64u);
      {
        if (((v_eb * 64) + v_ei) < v_nnz) {
          var v_lo = 0;
          var v_hi = v_m;
          loop {
            if (!(v_lo < v_hi)) { break; }
            let v_mid = ((v_lo + v_hi) / 2);
            if (indptr[u32((v_mid + 1))] <= ((v_eb * 64) + v_ei)) {
              v_lo = (v_mid + 1);
            } else {
              v_hi = v_mid;
            }
          }
          let v_j = indices[u32(((v_eb * 64) + v_ei))];
          var v_acc = 0.0;
          // lanes of 'cl' as vec4
          var v_cl_part = vec4<f32>(0.0);
          for (var v_cv = 0; v_cv < (v_d / 4); v_cv++) {
            v_cl_part = (v_cl_part + (a[u32((v_lo * (v_d) + (v_cv * 4))) / 4u] * b[u32((v_j * (v_d) + (v_cv * 4))) / 4u]));
          }
          v_acc = v_acc + dot(v_cl_part, vec4<f32>(1.0));
          out[u32(((v_eb * 64) + v_ei))] = v_acc;
        }
      }
    }
  }
}
