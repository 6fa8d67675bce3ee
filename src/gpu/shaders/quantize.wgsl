// Quantises an activation vector to Q8_0 blocks of 32, exactly as candle does before a
// quantised matmul: d = max|x| / 127 (kept at f16 precision), q = round(x × (1 / d)) with ties
// away from zero, as f32::round does (WGSL's round goes to even). Four int8 are packed per u32.
// One workgroup of 32 per block.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> quants: array<u32>;
@group(0) @binding(2) var<storage, read_write> scales: array<f32>;

// A non-negative f32 rounded to the nearest f16 (ties to even) and back, in integer steps, as
// the half crate does. WGSL lets pack2x16float round either way and flush subnormals, and
// blocks of small activations have subnormal f16 scales.
fn to_f16_precision(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    let exponent = i32(bits >> 23u) - 112;
    var mantissa = bits & 0x7fffffu;
    var shift = 13u;
    var half_exponent = u32(max(exponent, 0));
    if (exponent <= 0) {
        mantissa |= 0x800000u;
        shift = u32(14 - exponent);
        half_exponent = 0u;
    }
    if (bits < 0x00800000u || shift > 24u) {
        return 0.0;
    }
    var half = (half_exponent << 10u) + (mantissa >> shift);
    let rest = mantissa & ((1u << shift) - 1u);
    let halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (half & 1u) == 1u)) {
        half += 1u;
    }
    if (half >= 0x7c00u) {
        return bitcast<f32>(0x7f800000u | zero);
    }
    if (half < 0x400u) {
        return f32(half) * 5.9604645e-8;
    }
    return bitcast<f32>((((half >> 10u) + 112u) << 23u) | ((half & 0x3ffu) << 13u));
}

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
    let d = divide(amax[0], 127.0);
    let inv = select(0.0, divide(1.0, d), d != 0.0);
    let scaled = fence(v * inv);
    let whole = trunc(abs(scaled));
    let rounded = sign(scaled) * (whole + select(0.0, 1.0, fence(abs(scaled) - whole) >= 0.5));
    q[t] = bitcast<u32>(i32(rounded)) & 0xffu;
    workgroupBarrier();
    if (t < 8u) {
        quants[block.x * 8u + t] = q[4u * t] | (q[4u * t + 1u] << 8u) | (q[4u * t + 2u] << 16u) | (q[4u * t + 3u] << 24u);
    }
    if (t == 0u) {
        scales[block.x] = to_f16_precision(d);
    }
}
