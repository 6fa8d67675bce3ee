// Rotates q and k at position step.pos (llama's interleaved pairs 2i, 2i+1, as candle's rope_i)
// and writes k and v into this layer's cache row step.pos. dims.a = query heads,
// dims.b = key/value heads, dims.c = head size. One thread per pair.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(6) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(7) var<storage, read> cos_table: array<f32>;
@group(0) @binding(8) var<storage, read> sin_table: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let half = dims.c / 2u;
    let q_pairs = dims.a * half;
    let kv_pairs = dims.b * half;
    let p = id.x;
    if (p >= q_pairs + kv_pairs) {
        return;
    }
    let i = p % half;
    let c = cos_table[step.pos * half + i];
    let s = sin_table[step.pos * half + i];
    if (p < q_pairs) {
        let at = 2u * p;
        let x0 = q[at];
        let x1 = q[at + 1u];
        q[at] = x0 * c - x1 * s;
        q[at + 1u] = x0 * s + x1 * c;
    } else {
        let at = 2u * (p - q_pairs);
        let row = step.pos * dims.b * dims.c;
        let x0 = k[at];
        let x1 = k[at + 1u];
        k_cache[row + at] = x0 * c - x1 * s;
        k_cache[row + at + 1u] = x0 * s + x1 * c;
        v_cache[row + at] = v[at];
        v_cache[row + at + 1u] = v[at + 1u];
    }
}
