// x[r] = word[ids[r]] + type[0] + position[r % seq] for every token row r of the padded batch.
// dims.a = hidden size. One thread per element.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> batch: Batch;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read> word: array<f32>;
@group(0) @binding(4) var<storage, read> position: array<f32>;
@group(0) @binding(5) var<storage, read> token_type: array<f32>;
@group(0) @binding(6) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let h = dims.a;
    let e = id.x + id.y * 65535u * 64u;
    if (e >= batch.rows * h) {
        return;
    }
    let r = e / h;
    let i = e % h;
    x[e] = word[ids[r] * h + i] + token_type[i] + position[(r % batch.seq) * h + i];
}
