// Per-kernel sizes, fixed when the bind group is built at load.
struct Dims {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
    eps: f32,
    pad0: f32,
    pad1: f32,
    pad2: f32,
}

// Per-chunk values, written before each submit: `count` tokens at positions pos, pos + 1, ….
struct Step {
    pos: u32,
    count: u32,
    n_penalty: u32,
    penalty: f32,
}

// Zero, known only at run time: a kernel that needs `fence` sets it from its launch size first.
var<private> zero: u32;

// x unchanged, but opaque to the shader compiler. Some compile with fast-math (llvmpipe does)
// and would otherwise reorder, fuse or cancel float steps that must round as the CPU's do.
fn fence(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ zero);
}

// a + b as an unevaluated sum s + e, exactly (Knuth's TwoSum).
fn two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = fence(a + b);
    let bb = fence(s - a);
    return vec2<f32>(s, fence(fence(a - fence(s - bb)) + fence(b - bb)));
}

// a × b as p + e exactly (Dekker's product over 12-bit halves).
fn two_product(a: f32, b: f32) -> vec2<f32> {
    let p = fence(a * b);
    let ah = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
    let bh = bitcast<f32>(bitcast<u32>(b) & 0xfffff000u);
    let al = fence(a - ah);
    let bl = fence(b - bh);
    let e = fence(fence(fence(fence(ah * bh) - p) + fence(ah * bl)) + fence(al * bh));
    return vec2<f32>(p, fence(e + fence(al * bl)));
}

// a + b rounded to odd: inexact sums land on the odd neighbour.
fn add_to_odd(a: f32, b: f32) -> f32 {
    let t = two_sum(a, b);
    let bits = bitcast<u32>(t.x);
    if (t.y == 0.0 || (bits & 1u) == 1u) {
        return t.x;
    }
    return bitcast<f32>(select(bits - 1u, bits + 1u, (t.y > 0.0) == (t.x > 0.0)));
}

// a × b + c with one rounding, as a hardware fused multiply-add gives (Boldo and Melquiond's
// emulation through rounding to odd).
fn fused_multiply_add(a: f32, b: f32, c: f32) -> f32 {
    let u = two_product(a, b);
    let t = two_sum(c, u.x);
    return fence(t.x + add_to_odd(t.y, u.y));
}
