// Draws the next token from the logits exactly as src/generate/sample.rs does: weights
// exp(l / T − max) with libm's exp, lane t of 256 holding tokens t, t + 256, …, every sum in
// lane order and then lane after lane, the top-p threshold by bisection over the weights' bit
// patterns, and a uniform number hashed from the seed and position. One workgroup; writes the
// token id to out[0], the only value read back.
struct Sampling {
    temperature: f32,
    top_p: f32,
    seed_low: u32,
    seed_high: u32,
    position: u32,
    vocab: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> sampling: Sampling;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

var<workgroup> lane_value: array<f32, 256>;
var<workgroup> lane_last: array<u32, 256>;
var<workgroup> total: f32;

const NONE = 0xffffffffu;

// The sum, in lane order, of lane t's weights at or above `threshold`; also notes the lane's
// last token with a non-zero weight there.
fn lane_mass(t: u32, threshold: f32) -> f32 {
    var sum = 0.0;
    var last = NONE;
    for (var i = t; i < sampling.vocab; i += 256u) {
        let w = weights[i];
        if (w >= threshold) {
            sum = fence(sum + w);
            if (w > 0.0) {
                last = i;
            }
        }
    }
    lane_last[t] = last;
    return sum;
}

// Total weight at or above `threshold`, the lanes' sums added lane after lane; every thread
// gets it. Leaves each lane's sum in lane_value.
fn mass(t: u32, threshold: f32) -> f32 {
    lane_value[t] = lane_mass(t, threshold);
    workgroupBarrier();
    if (t == 0u) {
        var sum = 0.0;
        for (var l = 0u; l < 256u; l++) {
            sum = fence(sum + lane_value[l]);
        }
        total = sum;
    }
    return workgroupUniformLoad(&total);
}

fn mix(input: u32) -> u32 {
    var x = input;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    return x ^ (x >> 16u);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(num_workgroups) groups: vec3<u32>) {
    zero = u32(groups.x == 0u);
    var top = bitcast<f32>(0xff800000u | zero);
    for (var i = t; i < sampling.vocab; i += 256u) {
        weights[i] = divide(logits[i], sampling.temperature);
        top = max(top, weights[i]);
    }
    lane_value[t] = top;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            lane_value[t] = max(lane_value[t], lane_value[t + stride]);
        }
        workgroupBarrier();
    }
    let largest = lane_value[0];
    workgroupBarrier();
    for (var i = t; i < sampling.vocab; i += 256u) {
        weights[i] = exp_cpu(fence(weights[i] - largest));
    }
    storageBarrier();

    var threshold = 0.0;
    if (sampling.top_p < 1.0) {
        let needed = fence(sampling.top_p * mass(t, 0.0));
        var low = 0u;
        var high = 0x3f800000u;
        for (var step = 0; step < 32; step++) {
            let middle = low + (high - low + 1u) / 2u;
            if (mass(t, bitcast<f32>(middle)) >= needed) {
                low = middle;
            } else {
                high = middle - 1u;
            }
        }
        threshold = bitcast<f32>(low);
    }
    let kept = mass(t, threshold);

    if (t == 0u) {
        let h = mix(sampling.seed_low ^ mix(sampling.seed_high ^ mix(sampling.position)));
        let goal = fence(fence(f32(h >> 8u) * (1.0 / 16777216.0)) * kept);
        var before = 0.0;
        var last = NONE;
        for (var l = 0u; l < 256u; l++) {
            if (fence(before + lane_value[l]) > goal) {
                var within = 0.0;
                var pick = NONE;
                for (var i = l; i < sampling.vocab; i += 256u) {
                    let w = weights[i];
                    if (w >= threshold && w > 0.0) {
                        within = fence(within + w);
                        pick = i;
                        if (fence(before + within) > goal) {
                            break;
                        }
                    }
                }
                out[0] = select(pick, 0u, pick == NONE);
                return;
            }
            if (lane_last[l] != NONE) {
                last = lane_last[l];
            }
            before = fence(before + lane_value[l]);
        }
        out[0] = select(last, 0u, last == NONE);
    }
}
