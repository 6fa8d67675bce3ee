// Causal attention for chunk token t over cache rows 0..=step.pos + t, in exactly the order the
// CPU path computes it, so both round alike. candle runs the chunk as one call over m =
// step.count queries and n = step.pos + step.count keys:
// - scores q·k × scale (dims.eps) through gemm, whose summation order depends on the shape: its
//   horizontal kernel (HORIZONTAL targets, m·n ≤ 256: 8 strided lanes, then a pairwise sum), its
//   matrix-vector kernel (m = 1: 8 accumulators of GEMV_WIDTH lanes, a tree, then the lanes in
//   turn) or its packed kernel (one running sum);
// - softmax: max, exp as the CPU's libm, a sum in the order of candle's vec_sum over all n
//   entries (SUM_STEP running sums, paired, then its lanes), then a division;
// - the weighted sum of v, one running sum per output.
// FUSED says whether the CPU's multiply-adds are fused (AVX2 with FMA) or multiply then add
// (wasm simd128); WGSL's fma need not be fused, so fused steps are emulated exactly. Every float
// step is fenced from fast-math. Query head h reads key/value head h / (heads / kv heads).
// dims.a = query heads, dims.b = key/value heads, dims.c = head size, dims.d = context length
// (rows per (token, head) in `scores`). One workgroup per (head, token): x of the workgroup id is
// the head, y the token.
override FUSED: bool = true;
override HORIZONTAL: bool = true;
override GEMV_WIDTH: u32 = 8u;
override SUM_STEP: u32 = 32u;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 64>;

// c + a × b, rounded as the CPU's multiply-add is.
fn mul_add(a: f32, b: f32, c: f32) -> f32 {
    if (FUSED) {
        return fused_multiply_add(a, b, c);
    }
    return fence(c + fence(a * b));
}

// The query at `qa` · the key at `ka` over `hd` values, summed as gemm sums a call of m queries
// over n keys.
fn dot(qa: u32, ka: u32, hd: u32, m: u32, n: u32) -> f32 {
    if (HORIZONTAL && m * n <= 256u) {
        var lane: array<f32, 8>;
        for (var d = 0u; d < hd; d++) {
            lane[d % 8u] = mul_add(q[qa + d], k_cache[ka + d], lane[d % 8u]);
        }
        let a0 = fence(lane[0] + lane[4]);
        let a1 = fence(lane[1] + lane[5]);
        let a2 = fence(lane[2] + lane[6]);
        let a3 = fence(lane[3] + lane[7]);
        return fence(fence(a0 + a2) + fence(a1 + a3));
    }
    if (m == 1u) {
        let w = GEMV_WIDTH;
        let blocked = hd / (8u * w) * (8u * w);
        let lanes_end = hd / w * w;
        var sum = 0.0;
        for (var l = 0u; l < w; l++) {
            var acc: array<f32, 8>;
            for (var base = 0u; base < blocked; base += 8u * w) {
                for (var j = 0u; j < 8u; j++) {
                    let d = base + j * w + l;
                    acc[j] = mul_add(k_cache[ka + d], q[qa + d], acc[j]);
                }
            }
            let low = fence(fence(acc[0] + acc[1]) + fence(acc[2] + acc[3]));
            let high = fence(fence(acc[4] + acc[5]) + fence(acc[6] + acc[7]));
            var total = fence(low + high);
            for (var d = blocked + l; d < lanes_end; d += w) {
                total = mul_add(k_cache[ka + d], q[qa + d], total);
            }
            sum = select(fence(sum + total), total, l == 0u);
        }
        for (var d = lanes_end; d < hd; d++) {
            sum = mul_add(k_cache[ka + d], q[qa + d], sum);
        }
        return sum;
    }
    var acc = 0.0;
    for (var d = 0u; d < hd; d++) {
        acc = mul_add(q[qa + d], k_cache[ka + d], acc);
    }
    return acc;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    zero = u32(groups.x == 0u);
    let h = wg.x;
    let token = wg.y;
    let hd = dims.c;
    let kv = h / (dims.a / dims.b);
    let kv_width = dims.b * hd;
    let m = step.count;
    let keys = step.pos + m;
    let n = step.pos + token + 1u;
    let base = (token * dims.a + h) * dims.d;
    let qh = (token * dims.a + h) * hd;

    var local_max = bitcast<f32>(0xff7fffffu);
    for (var p = t; p < n; p += 64u) {
        let s = fence(dot(qh, p * kv_width + kv * hd, hd, m, keys) * dims.eps);
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
    let top = partial[0];
    workgroupBarrier();
    for (var p = t; p < n; p += 64u) {
        scores[base + p] = exp_cpu(fence(scores[base + p] - top));
    }
    storageBarrier();
    workgroupBarrier();

    // vec_sum: running sum i % SUM_STEP over the first keys & !(SUM_STEP - 1) entries (the
    // masked ones beyond n are zeros), then the rest in turn.
    let vectorised = min(keys & ~(SUM_STEP - 1u), n);
    if (t < SUM_STEP) {
        var s = 0.0;
        for (var i = t; i < vectorised; i += SUM_STEP) {
            s = fence(s + scores[base + i]);
        }
        partial[t] = s;
    }
    workgroupBarrier();
    if (t == 0u) {
        let width = SUM_STEP / 4u;
        var lane: array<f32, 8>;
        for (var l = 0u; l < width; l++) {
            let a = fence(partial[l] + partial[width + l]);
            let b = fence(partial[2u * width + l] + partial[3u * width + l]);
            lane[l] = fence(a + b);
        }
        var total = lane[0];
        if (width == 8u) {
            let a0 = fence(lane[0] + lane[4]);
            let a1 = fence(lane[1] + lane[5]);
            let a2 = fence(lane[2] + lane[6]);
            let a3 = fence(lane[3] + lane[7]);
            total = fence(fence(a0 + a1) + fence(a2 + a3));
        } else {
            for (var l = 1u; l < width; l++) {
                total = fence(total + lane[l]);
            }
        }
        for (var i = vectorised; i < n; i++) {
            total = fence(total + scores[base + i]);
        }
        partial[0] = total;
    }
    workgroupBarrier();
    let total = partial[0];
    for (var p = t; p < n; p += 64u) {
        scores[base + p] = divide(scores[base + p], total);
    }
    storageBarrier();
    workgroupBarrier();

    for (var d = t; d < hd; d += 64u) {
        var acc = 0.0;
        for (var p = 0u; p < n; p++) {
            acc = mul_add(scores[base + p], v_cache[p * kv_width + kv * hd + d], acc);
        }
        out[qh + d] = acc;
    }
}
