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

// The f32 next to a finite, non-zero x: away from zero if `outward`, else towards it.
fn neighbour(x: f32, outward: bool) -> f32 {
    let bits = bitcast<u32>(x);
    return bitcast<f32>(select(bits - 1u, bits + 1u, outward));
}

// a − q·b with the product taken exactly; q is close to a / b, so a − p is exact too.
fn division_residual(a: f32, b: f32, q: f32) -> f32 {
    let p = two_product(q, b);
    return fence(fence(a - p.x) - p.y);
}

// Whether the rounding corrections below may work on x: finite, non-zero, and between 2^-78
// and 2^127, so no residual underflows (WGSL may flush subnormals) or overflows.
fn correctable(x: f32) -> bool {
    let exponent = bitcast<u32>(x) & 0x7f800000u;
    return exponent >= 0x18800000u && exponent < 0x7f000000u;
}

// a / b rounded to nearest, as the CPU divides, from a start a few ulp off: the quotient moves
// to whichever neighbour leaves the smaller residual until neither does. The residuals are
// rounded once, so a quotient within about 2^-25 ulp of a midpoint could still round wrongly.
fn nearest_quotient(a: f32, b: f32, start: f32) -> f32 {
    var q = start;
    if (!correctable(a) || !correctable(b) || !correctable(q)) {
        return q;
    }
    var r = division_residual(a, b, q);
    for (var i = 0; i < 4 && r != 0.0; i++) {
        let next = neighbour(q, ((r > 0.0) == (b > 0.0)) == (q > 0.0));
        let rn = division_residual(a, b, next);
        if (abs(rn) >= abs(r)) {
            break;
        }
        q = next;
        r = rn;
    }
    return q;
}

// a / b rounded to nearest. WGSL allows 2.5 ulp of error in `/`, and fast-math compilers
// rewrite chains of divisions (SwiftShader rounded 1 / (a / 127) unlike the CPU), so the
// operands are fenced and the quotient corrected.
fn divide(a: f32, b: f32) -> f32 {
    return nearest_quotient(a, b, fence(fence(a) / fence(b)));
}

// √x rounded to nearest from a root s a few ulp off, by the same residual test.
fn nearest_root(x: f32, start: f32) -> f32 {
    var s = start;
    if (!correctable(x) || !correctable(s)) {
        return s;
    }
    var r = division_residual(x, s, s);
    for (var i = 0; i < 4 && r != 0.0; i++) {
        let next = neighbour(s, r > 0.0);
        let rn = division_residual(x, next, next);
        if (abs(rn) >= abs(r)) {
            break;
        }
        s = next;
        r = rn;
    }
    return s;
}

// √x rounded to nearest: WGSL's sqrt need not be correctly rounded.
fn square_root(x: f32) -> f32 {
    return nearest_root(x, fence(sqrt(x)));
}
