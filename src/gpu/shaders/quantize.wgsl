// Quantises an activation vector to Q8_0 blocks of 32, exactly as candle does before a
// quantised matmul: d = max|x| / 127 (kept at f16 precision), q = round(x × (1 / d)) with ties
// away from zero, as f32::round does (WGSL's round goes to even). Four int8 are packed per u32.
// One workgroup of 32 per block.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> quants: array<u32>;
@group(0) @binding(2) var<storage, read_write> scales: array<f32>;

var<workgroup> amax: array<f32, 32>;
var<workgroup> q: array<u32, 32>;

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) block: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    zero = u32(groups.x == 0u);
    let v = x[block.x * 32u + t];
    amax[t] = abs(v);
    workgroupBarrier();
    for (var stride = 16u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            amax[t] = max(amax[t], amax[t + stride]);
        }
        workgroupBarrier();
    }
    let d = amax[0] / 127.0;
    let inv = select(0.0, 1.0 / d, d != 0.0);
    let scaled = fence(v * inv);
    let whole = trunc(abs(scaled));
    let rounded = sign(scaled) * (whole + select(0.0, 1.0, fence(abs(scaled) - whole) >= 0.5));
    q[t] = bitcast<u32>(i32(rounded)) & 0xffu;
    workgroupBarrier();
    if (t < 8u) {
        quants[block.x * 8u + t] = q[4u * t] | (q[4u * t + 1u] << 8u) | (q[4u * t + 2u] << 16u) | (q[4u * t + 3u] << 24u);
    }
    if (t == 0u) {
        scales[block.x] = unpack2x16float(pack2x16float(vec2<f32>(d, 0.0))).x;
    }
}
