// Copy bias, after the repetition penalty as on the CPU: adds dims.eps to the logits of the
// dims.a distinct tokens in `boosts` (the tokens that continue the answer as a source does).
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> boosts: array<u32>;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < dims.a) {
        let t = boosts[id.x];
        logits[t] = logits[t] + dims.eps;
    }
}
