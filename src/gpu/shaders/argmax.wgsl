// The index of the largest of dims.a logits (the last one on ties, as candle's greedy
// sampler), written to out[0]: the only value read back per token. One workgroup.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

var<workgroup> best_value: array<f32, 256>;
var<workgroup> best_index: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
    var value = bitcast<f32>(0xff7fffffu);
    var index = 0u;
    for (var i = t; i < dims.a; i += 256u) {
        if (logits[i] >= value) {
            value = logits[i];
            index = i;
        }
    }
    best_value[t] = value;
    best_index[t] = index;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            let v = best_value[t + stride];
            let j = best_index[t + stride];
            if (v > best_value[t] || (v == best_value[t] && j > best_index[t])) {
                best_value[t] = v;
                best_index[t] = j;
            }
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        out[0] = best_index[0];
    }
}
