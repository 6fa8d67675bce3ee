// y[r] (+)= Σ_blocks f32(Σ int8·int8) × d_w × d_x : a Q8_0 weight row times a Q8_0-quantised
// activation, as candle's q8_0·q8_0 dot, for each token of the chunk. dims.a = rows,
// dims.b = blocks per row, dims.c = 1 to add into y (residual) instead of overwriting. One
// workgroup of 32 per (row, token): x of the workgroup id is the row, y the token.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read> wd: array<f32>;
@group(0) @binding(3) var<storage, read> xq: array<u32>;
@group(0) @binding(4) var<storage, read> xd: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 32>;

fn dot4(a: u32, b: u32) -> i32 {
    let ai = bitcast<i32>(a);
    let bi = bitcast<i32>(b);
    var s = 0;
    for (var k = 0u; k < 32u; k += 8u) {
        s += extractBits(ai, k, 8u) * extractBits(bi, k, 8u);
    }
    return s;
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = wg.x;
    let token = wg.y;
    let xb = token * dims.b;
    var acc = 0.0;
    for (var b = t; b < dims.b; b += 32u) {
        let base = (row * dims.b + b) * 8u;
        var s = 0;
        for (var k = 0u; k < 8u; k++) {
            s += dot4(wq[base + k], xq[(xb + b) * 8u + k]);
        }
        acc += f32(s) * wd[row * dims.b + b] * xd[xb + b];
    }
    partial[t] = acc;
    workgroupBarrier();
    for (var stride = 16u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        let at = token * dims.a + row;
        y[at] = select(partial[0], y[at] + partial[0], dims.c == 1u);
    }
}
