// y[r] = LayerNorm(x[r] + residual[r]) · gamma + beta (residual only when dims.b = 1), over
// dims.a elements per row. One workgroup per row.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> batch: Batch;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> residual: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 64>;

fn value(at: u32) -> f32 {
    return select(x[at], x[at] + residual[at], dims.b == 1u);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let r = wg.x + wg.y * 65535u;
    if (r >= batch.rows) {
        return;
    }
    let n = dims.a;
    let base = r * n;
    var sum = 0.0;
    for (var i = t; i < n; i += 64u) {
        sum += value(base + i);
    }
    partial[t] = sum;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    let mean = partial[0] / f32(n);
    workgroupBarrier();
    var sq = 0.0;
    for (var i = t; i < n; i += 64u) {
        let d = value(base + i) - mean;
        sq += d * d;
    }
    partial[t] = sq;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / sqrt(partial[0] / f32(n) + dims.eps);
    workgroupBarrier();
    for (var i = t; i < n; i += 64u) {
        y[base + i] = (value(base + i) - mean) * inv * gamma[i] + beta[i];
    }
}
