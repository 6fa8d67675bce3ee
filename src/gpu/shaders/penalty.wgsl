// Repetition penalty on the logits of the recent distinct tokens, as candle's
// apply_repeat_penalty: positive logits are divided by the penalty, negative ones multiplied.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> recent: array<u32>;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    zero = u32(groups.x == 0u);
    if (id.x < step.n_penalty) {
        let t = recent[id.x];
        let l = logits[t];
        logits[t] = select(l * step.penalty, divide(l, step.penalty), l >= 0.0);
    }
}
