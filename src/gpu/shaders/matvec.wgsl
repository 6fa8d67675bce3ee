// y[token, r] (+)= a Q8_0 weight row · a Q8_0-quantised activation row, for every token of the
// chunk, in exactly the floating-point order of the CPU path's q8_0·q8_0 dot so both round
// alike: LANES = 8 is candle's AVX2 kernel (eight running sums, one per 4-byte group, fused
// multiply-add, then its pairwise horizontal sum; WGSL's fma need not be fused, so it is
// emulated exactly), 4 its wasm simd128 kernel (four sums over byte pairs, multiply then add,
// summed left to right), 1 its portable loop. Integer products are exact, so only the float
// steps need to follow, and each is fenced from fast-math. dims.a = rows, dims.b = blocks per row,
// dims.c = 1 adds into y (residual), dims.d = tokens when fixed (0: the chunk's count).
// Each workgroup covers 64 / LANES rows and TILE tokens: every weight word is loaded once per
// tile of tokens (the prefill's matmul), and the lanes of a row read one block together.
override LANES: u32 = 8u;
const THREADS: u32 = 64u;
const TILE: u32 = 8u;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> wq: array<u32>;
@group(0) @binding(3) var<storage, read> wd: array<f32>;
@group(0) @binding(4) var<storage, read> xq: array<u32>;
@group(0) @binding(5) var<storage, read> xd: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 512>;

// This lane's integer share of one block's dot: the lane's 4-byte group (8 lanes), its byte
// pair in each 8-byte group (4 lanes), or the whole block (1 lane).
fn lane_dot(w: u32, x: u32, lane: u32) -> i32 {
    if (LANES == 8u) {
        return dot4I8Packed(wq[w + lane], xq[x + lane]);
    }
    if (LANES == 4u) {
        let mask = select(0x0000ffffu, 0xffff0000u, (lane & 1u) == 1u);
        var s = 0;
        for (var g = lane >> 1u; g < 8u; g += 2u) {
            s += dot4I8Packed(wq[w + g] & mask, xq[x + g] & mask);
        }
        return s;
    }
    var s = 0;
    for (var g = 0u; g < 8u; g++) {
        s += dot4I8Packed(wq[w + g], xq[x + g]);
    }
    return s;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    zero = u32(groups.x == 0u);
    let rows_per_group = THREADS / LANES;
    let lane = t % LANES;
    let row = wg.x * rows_per_group + t / LANES;
    let count = select(step.count, dims.d, dims.d != 0u);
    let first = wg.y * TILE;
    let tokens = min(TILE, count - first);
    var acc: array<f32, 8>;
    if (row < dims.a) {
        for (var b = 0u; b < dims.b; b++) {
            let wb = row * dims.b + b;
            let dw = wd[wb];
            for (var k = 0u; k < tokens; k++) {
                let xb = (first + k) * dims.b + b;
                let s = f32(lane_dot(wb * 8u, xb * 8u, lane));
                if (LANES == 8u) {
                    acc[k] = fused_multiply_add(dw * xd[xb], s, acc[k]);
                } else if (LANES == 4u) {
                    acc[k] = fence(acc[k] + fence(s * (dw * xd[xb])));
                } else {
                    acc[k] = fence(acc[k] + fence(fence(s * dw) * xd[xb]));
                }
            }
        }
    }
    for (var k = 0u; k < tokens; k++) {
        partial[k * THREADS + t] = acc[k];
    }
    workgroupBarrier();
    if (lane != 0u || row >= dims.a) {
        return;
    }
    for (var k = 0u; k < tokens; k++) {
        let p = k * THREADS + t;
        var sum = partial[p];
        if (LANES == 8u) {
            let a0 = fence(partial[p] + partial[p + 4u]);
            let a1 = fence(partial[p + 1u] + partial[p + 5u]);
            let a2 = fence(partial[p + 2u] + partial[p + 6u]);
            let a3 = fence(partial[p + 3u] + partial[p + 7u]);
            sum = fence(fence(a0 + a2) + fence(a1 + a3));
        } else if (LANES == 4u) {
            sum = fence(fence(fence(partial[p] + partial[p + 1u]) + partial[p + 2u]) + partial[p + 3u]);
        }
        let at = (first + k) * dims.a + row;
        y[at] = select(sum, fence(y[at] + sum), dims.c == 1u);
    }
}
