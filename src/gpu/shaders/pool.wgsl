// out[b] = L2-normalised mean of x over sequence b's real tokens (the attention mask), as
// sentence-transformers pools MiniLM. dims.a = hidden size (≤ 1024); one workgroup per sequence.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> batch: Batch;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> pooled: array<f32, 1024>;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    let h = dims.a;
    let first = b * batch.seq;
    var count = 0.0;
    for (var s = 0u; s < batch.seq; s++) {
        count += f32(mask[first + s]);
    }
    var sq = 0.0;
    for (var i = t; i < h; i += 64u) {
        var sum = 0.0;
        for (var s = 0u; s < batch.seq; s++) {
            sum += x[(first + s) * h + i] * f32(mask[first + s]);
        }
        let mean = sum / max(count, 1e-9);
        pooled[i] = mean;
        sq += mean * mean;
    }
    partial[t] = sq;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    let norm = sqrt(partial[0]);
    for (var i = t; i < h; i += 64u) {
        out[b * h + i] = select(pooled[i], pooled[i] / norm, norm > 0.0);
    }
}
