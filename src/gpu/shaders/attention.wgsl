// Causal attention for chunk token t over cache rows 0..=step.pos + t: scores q·k / sqrt(head
// size), softmax (max, exp, sum, divide, as candle), then the weighted sum of v. Query head h
// reads key/value head h / (heads / kv heads). dims.a = query heads, dims.b = key/value heads,
// dims.c = head size, dims.d = context length (rows per (token, head) in `scores`). One
// workgroup per (head, token): x of the workgroup id is the head, y the token.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let h = wg.x;
    let token = wg.y;
    let hd = dims.c;
    let kv = h / (dims.a / dims.b);
    let kv_width = dims.b * hd;
    let n = step.pos + token + 1u;
    let base = (token * dims.a + h) * dims.d;
    let qh = token * dims.a * hd + h * hd;
    let scale = sqrt(f32(hd));

    var local_max = bitcast<f32>(0xff7fffffu);
    for (var p = t; p < n; p += 64u) {
        var s = 0.0;
        for (var d = 0u; d < hd; d++) {
            s += q[qh + d] * k_cache[p * kv_width + kv * hd + d];
        }
        s = s / scale;
        scores[base + p] = s;
        local_max = max(local_max, s);
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
    for (var p = t; p < n; p += 64u) {
        let e = exp(scores[base + p] - m);
        scores[base + p] = e;
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
    storageBarrier();
    workgroupBarrier();

    for (var d = t; d < hd; d += 64u) {
        var acc = 0.0;
        for (var p = 0u; p < n; p++) {
            acc += (scores[base + p] / total) * v_cache[p * kv_width + kv * hd + d];
        }
        out[qh + d] = acc;
    }
}
