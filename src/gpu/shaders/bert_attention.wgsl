// Self-attention for one query token of one head: scores q·k / sqrt(head size) over the
// sequence's real tokens (padding masked out), softmax, weighted sum of v. dims.a = heads,
// dims.b = head size, dims.c = hidden size; one workgroup per (query row, head).
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> batch: Batch;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> scores: array<f32, 512>;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let r = wg.x + wg.y * 65535u;
    if (r >= batch.rows) {
        return;
    }
    let h = wg.z;
    let hd = dims.b;
    let width = dims.c;
    let first = (r / batch.seq) * batch.seq;
    let scale = sqrt(f32(hd));
    var local_max = bitcast<f32>(0xff7fffffu);
    for (var s = t; s < batch.seq; s += 64u) {
        var score = bitcast<f32>(0xff7fffffu);
        if (mask[first + s] != 0u) {
            var dot = 0.0;
            for (var d = 0u; d < hd; d++) {
                dot += q[r * width + h * hd + d] * k[(first + s) * width + h * hd + d];
            }
            score = dot / scale;
        }
        scores[s] = score;
        local_max = max(local_max, score);
    }
    partial[t] = local_max;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            partial[t] = max(partial[t], partial[t + stride]);
        }
        workgroupBarrier();
    }
    let m = partial[0];
    workgroupBarrier();
    var local_sum = 0.0;
    for (var s = t; s < batch.seq; s += 64u) {
        let e = select(0.0, exp(scores[s] - m), mask[first + s] != 0u);
        scores[s] = e;
        local_sum += e;
    }
    partial[t] = local_sum;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    for (var d = t; d < hd; d += 64u) {
        var acc = 0.0;
        for (var s = 0u; s < batch.seq; s++) {
            acc += scores[s] / total * v[(first + s) * width + h * hd + d];
        }
        out[r * width + h * hd + d] = acc;
    }
}
