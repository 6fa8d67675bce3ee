// Rotates q and k of each chunk token t at position step.pos + t (llama's interleaved pairs
// 2i, 2i+1, as candle's rope_i) and writes k and v into this layer's cache at that row. Each
// product and difference is fenced, so a fast-math compiler cannot fuse them: they round as the
// CPU's do.
// dims.a = query heads, dims.b = key/value heads, dims.c = head size. One thread per pair.
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
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    zero = u32(groups.x == 0u);
    let half = dims.c / 2u;
    let q_pairs = dims.a * half;
    let kv_pairs = dims.b * half;
    let token = id.x / (q_pairs + kv_pairs);
    let p = id.x % (q_pairs + kv_pairs);
    if (token >= step.count) {
        return;
    }
    let pos = step.pos + token;
    let i = p % half;
    let c = cos_table[pos * half + i];
    let s = sin_table[pos * half + i];
    if (p < q_pairs) {
        let at = token * dims.a * dims.c + 2u * p;
        let x0 = q[at];
        let x1 = q[at + 1u];
        q[at] = fence(fence(x0 * c) - fence(x1 * s));
        q[at + 1u] = fence(fence(x0 * s) + fence(x1 * c));
    } else {
        let at = 2u * (p - q_pairs);
        let width = dims.b * dims.c;
        let src = token * width + at;
        let row = pos * width;
        let x0 = k[src];
        let x1 = k[src + 1u];
        k_cache[row + at] = fence(fence(x0 * c) - fence(x1 * s));
        k_cache[row + at + 1u] = fence(fence(x0 * s) + fence(x1 * c));
        v_cache[row + at] = v[src];
        v_cache[row + at + 1u] = v[src + 1u];
    }
}
