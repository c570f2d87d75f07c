// loop program rgcn_csr
@group(0) @binding(0) var<storage, read> indptr: array<i32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read> rel: array<i32>;
@group(0) @binding(3) var<storage, read> vals: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> w: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
struct TessDims { d: array<vec4<u32>, 2> }
@group(0) @binding(7) var<uniform> tess_dims: TessDims;
fn tess_fdiv(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0)));
}
fn tess_fmod(a: i32, b: i32) -> i32 { return a - b * tess_fdiv(a, b); }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let v_R = i32(tess_dims.d[0][0]);
  let v_fin = i32(tess_dims.d[0][1]);
  let v_fout = i32(tess_dims.d[0][2]);
  let v_k = i32(tess_dims.d[0][3]);
  let v_m = i32(tess_dims.d[1][0]);
  let v_nnz = i32(tess_dims.d[1][1]);
  let tess_g = wid.x + wid.y * nwg.x;
  {
    let v_ob = i32(tess_g) - 0 + 0;
    if (v_ob >= 0 && v_ob < (((v_m * v_fout) + 63) / 64)) {
      let v_oi = i32((lid / 1u) % 64u);
      {
        if (((v_ob * 64) + v_oi) < (v_m * v_fout)) {
          let v_end = indptr[u32(((((v_ob * 64) + v_oi) / v_fout) + 1))];
          var v_acc = 0.0;
          var v_e = indptr[u32((((v_ob * 64) + v_oi) / v_fout))];
          loop {
            if (!(v_e < v_end)) { break; }
            let v_r = rel[u32(v_e)];
            var v_se = (v_e + 1);
            loop {
              if (!(v_se < v_end)) { break; }
              if (rel[u32(v_se)] == v_r) {
                v_se = (v_se + 1);
              } else {
                break;
              }
            }
            for (var v_q = 0; v_q < v_fin; v_q++) {
              var v_s = 0.0;
              for (var v_t = v_e; v_t < v_se; v_t++) {
                v_s = (v_s + (vals[u32(v_t)] * x[u32((indices[u32(v_t)] * (v_fin) + v_q))]));
              }
              v_acc = (v_acc + (v_s * w[u32(((v_r * (v_fin) + v_q) * (v_fout) + (((v_ob * 64) + v_oi) % v_fout)))]));
            }
            v_e = v_se;
          }
          y[u32(((((v_ob * 64) + v_oi) / v_fout) * (v_fout) + (((v_ob * 64) + v_oi) % v_fout)))] = v_acc;
        }
      }
    }
  }
}
