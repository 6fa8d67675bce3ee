// x[t] = row `tokens[t]` of the Q8_0 embedding table, dequantised (scale × int8) as candle
// does, for each of the chunk's tokens. dims.a = hidden size. One thread per element.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> quants: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> tokens: array<u32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let e = id.x;
    if (e >= step.count * dims.a) {
        return;
    }
    let t = e / dims.a;
    let element = tokens[t] * dims.a + e % dims.a;
    let word = quants[element / 4u];
    let q = extractBits(bitcast<i32>(word), (element % 4u) * 8u, 8u);
    x[e] = scales[element / 32u] * f32(q);
}
