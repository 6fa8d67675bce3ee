// h = silu(gate) × up, silu(x) = x / (1 + exp(-x)) as candle computes it; dims.a elements per
// chunk token.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;
@group(0) @binding(4) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    zero = u32(groups.x == 0u);
    let i = id.x;
    if (i < dims.a * step.count) {
        let g = gate[i];
        h[i] = fence(divide(g, fence(1.0 + exp_cpu(-g))) * up[i]);
    }
}
